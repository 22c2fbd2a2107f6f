"""Benchmark: one full exporter scrape of a large node vs prometheus_client.parser on the same text.

    .venv/bin/python benchmarks/bench_exporter_parse.py [--models 500] [--gpus 8] [--rounds 5]

THE LARGE-NODE TEXT IS SYNTHESIZED, not GPU output: the real recordings in ../shared/fixtures are
scaled up. Triton's families, HELP/TYPE lines and label sets come from the Triton recording
(7 models of a T4 server), repeated for N model versions with an instance on a GPU (one series per
gpu_uuid plus Triton's extra series without it, as Triton writes them); dcgm-exporter's come from the
L4 recording repeated for G GPUs, plus the MIG instances' series of NVIDIA's A100 MIG excerpt, 7
instances per GPU. The Triton API answer (model states, configs, statistics) and the probe state for
the N model versions are constructed in-process.

Printed, side by side in one run:
  1. prometheus_client.parser alone on the Triton + DCGM text;
  2. one full scrape's work: scan both texts, decode DCGM, build our families, render the page
     (plain text) -- everything but the network; and the ratio 2/1 (goal: <= 0.10);
  3. the same at about 1k, 10k and 100k upstream series, with the time per series relative to the
     smallest (1.00x is linear);
  4. the scrape P99 under 10 concurrent scrapers, end to end over HTTP (the upstream pages served by
     the replay server), since concurrent scrapes are coalesced into one upstream fetch.
It also checks, on the real recordings, that the parse equals prometheus_client's.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the harness

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from triton_slo.exporters import textparse  # noqa: E402
from triton_slo.exporters.config import ExporterConfig, ProbeConfig  # noqa: E402
from triton_slo.exporters.exporter import DCGM, TRITON, TRITON_API, Exporter, Result, text_result  # noqa: E402
from triton_slo.exporters.probes import ProbeStats  # noqa: E402
from triton_slo.exporters.triton_api import ApiSnapshot, ModelState, summarize_config, summarize_stats  # noqa: E402

FIXTURES = REPO.parent / "shared" / "fixtures"


def synth_triton(models: int, gpus: int) -> str:
    """The Triton recording scaled to ``models`` model versions on ``gpus`` GPUs (see the docstring)."""
    text = (FIXTURES / "triton_T4_7models_scrape2_sonic.prom").read_text()
    out: list[str] = []
    uuids = [f"GPU-{i:08x}-e44e-72c7-fba5-ed5d48487989" for i in range(gpus)]
    for family in textparse.scan(text).families:
        out.extend(family.header)
        lines = family.lines
        if not lines:
            continue
        template = lines[0]
        if 'model="' in template:
            for i in range(models):
                line = re.sub(r'model="[^"]*"', f'model="resnet_{i:03d}"', template)
                line = line.replace('version="1"', f'version="{1 + i % 2}"')
                out.append(line.replace("{", f'{{gpu_uuid="{uuids[i % gpus]}",', 1))
                out.append(line)  # Triton's series without gpu_uuid, kept at 0 in real servers
        elif "gpu_uuid=" in template:
            out.extend(re.sub(r'gpu_uuid="[^"]*"', f'gpu_uuid="{u}"', template) for u in uuids)
        else:
            out.extend(lines)
    return "\n".join(out) + "\n"


def synth_dcgm(gpus: int, mig_per_gpu: int = 7) -> str:
    """The L4 recording for ``gpus`` GPUs, plus MIG-instance series shaped like the A100 excerpt's."""
    whole = (FIXTURES / "dcgm_L4_kops_default-counters.prom").read_text()
    mig = [line for line in (FIXTURES / "dcgm_A100_MIG_nvidia-docs_excerpt.prom").read_text().splitlines()
           if "GPU_I_ID" in line]
    out: list[str] = []
    for family in textparse.scan(whole).families:
        out.extend(family.header)
        for gpu in range(gpus):
            out.extend(line.replace('gpu="0"', f'gpu="{gpu}"').replace("1343419b1a1c", f"1343419b{gpu:04x}")
                       for line in family.lines)
    for gpu in range(gpus):
        for instance in range(mig_per_gpu):
            out.extend(line.replace('gpu="0"', f'gpu="{gpu}"').replace('GPU_I_ID="13"', f'GPU_I_ID="{instance}"')
                       .replace("179bcfa61660", f"179bcfa6{gpu:04x}") for line in mig)
    return "\n".join(out) + "\n"


def api_snapshot(models: int) -> ApiSnapshot:
    config = summarize_config({"backend": "onnxruntime", "max_batch_size": 64, "dynamic_batching": {},
                               "instance_group": [{"kind": "KIND_GPU", "count": 1, "gpus": [0]}]})
    snap = ApiSnapshot(live=True, ready=True)
    for i in range(models):
        key = (f"resnet_{i:03d}", str(1 + i % 2))
        snap.models.append(ModelState(*key, True))
        snap.configs[key] = config
        snap.stats.append(summarize_stats({
            "name": key[0], "version": key[1], "last_inference": 1_700_000_000_000 + i,
            "inference_stats": {"success": {"count": i, "ns": i * 1000}},
            "batch_stats": [{"batch_size": 1, "compute_infer": {"count": i, "ns": 1}},
                            {"batch_size": 8, "compute_infer": {"count": i // 2, "ns": 1}}],
        }))
    return snap


def best_of(rounds: int, func) -> float:  # noqa: ANN001
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def check_oracle() -> None:
    for path in sorted(FIXTURES.glob("*.prom")):
        text = path.read_text()
        ours = [(s.name, s.labels, s.value) for _, samples in textparse.parse(text)[0] for s in samples]
        theirs = [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]
        renamed = [(name.removesuffix("_total") if name.endswith("_total") and not any(
            o[0] == name for o in ours) else name, labels, value) for name, labels, value in theirs]
        assert ours == renamed, f"parse differs from prometheus_client on {path.name}"
    print(f"parse == prometheus_client on {len(list(FIXTURES.glob('*.prom')))} real recordings: ok")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scrapes", type=int, default=20, help="scrapes per concurrent scraper")
    args = parser.parse_args()
    if not FIXTURES.is_dir():
        print(f"real recordings not found: {FIXTURES}", file=sys.stderr)
        return 2
    check_oracle()
    triton_text, dcgm_text = synth_triton(args.models, args.gpus), synth_dcgm(args.gpus)
    triton_series, dcgm_series = textparse.scan(triton_text).samples, textparse.scan(dcgm_text).samples
    print(f"SYNTHESIZED large node (scaled from the real recordings): Triton {args.models} model versions, "
          f"{triton_series} series, {len(triton_text) / 1e6:.1f} MB; DCGM {args.gpus} GPUs + MIG, "
          f"{dcgm_series} series")

    reference_s, scrape_s, body = scrape_versus_parser(triton_text, dcgm_text, args.models, args.rounds)
    series = triton_series + dcgm_series
    print(f"prometheus_client.parser alone : {reference_s * 1e3:8.1f} ms  ({reference_s / series * 1e6:.1f} us/series)")
    print(f"full scrape (no network)       : {scrape_s * 1e3:8.1f} ms  ({body / 1e6:.1f} MB page)")
    print(f"ratio scrape / parser          : {scrape_s / reference_s:8.3f}  (goal <= 0.100)")
    scaling(args.gpus, args.rounds)
    concurrent_p99(triton_text, dcgm_text, args.scrapes)
    return 0


def scrape_versus_parser(triton_text: str, dcgm_text: str, models: int, rounds: int) -> tuple[float, float, int]:
    """Seconds of prometheus_client's parser alone on both texts, of one full scrape's work on them
    (scan, decode DCGM, build our families, render the page; no network), and the page's size."""
    config = ExporterConfig(triton_url="http://127.0.0.1:1", triton_metrics_url="http://127.0.0.1:1/metrics",
                            dcgm_url="http://127.0.0.1:1/metrics", probes=ProbeConfig(enabled=False))
    exporter = Exporter(config, probes=False)
    stats = ProbeStats(ProbeConfig().buckets)
    for state in api_snapshot(models).models:
        stats.register(state.model, state.version, golden=True)
        stats.record(state.model, state.version, "success", 0.004)
        stats.record_golden(state.model, state.version, 8, 8, 0)
    exporter.prober = type("Probes", (), {"stats": stats, "stop": lambda self: None})()  # state, no probing
    api = api_snapshot(models)

    def reference() -> None:
        list(text_string_to_metric_families(triton_text))
        list(text_string_to_metric_families(dcgm_text))

    body_size = [0]

    def scrape_work() -> None:
        results = {TRITON: text_result(TRITON, triton_text), TRITON_API: Result(TRITON_API, True, 0.0, api=api),
                   DCGM: text_result(DCGM, dcgm_text)}
        body_size[0] = len(exporter.assemble(results).body(openmetrics=False, gzipped=False))

    # interleaved, best of N each: the machine's load drifts, and both sides should see the same drift
    reference_s = scrape_s = float("inf")
    for _ in range(rounds):
        reference_s = min(reference_s, best_of(1, reference))
        scrape_s = min(scrape_s, best_of(2, scrape_work))
    exporter.close()
    return reference_s, scrape_s, body_size[0]


def scaling(gpus: int, rounds: int) -> None:
    """The full scrape at about 1k, 10k and 100k upstream series: linear when 10x the series costs
    about 10x the time (a fixed cost per scrape makes the smallest page dearer per series)."""
    fixed = textparse.scan(synth_dcgm(gpus)).samples
    ten, twenty = (textparse.scan(synth_triton(m, gpus)).samples for m in (10, 20))
    per_model, base = (twenty - ten) / 10, ten - (twenty - ten)
    rows = []
    for target in (1_000, 10_000, 100_000):
        models = max(1, round((target - fixed - base) / per_model))
        triton_text, dcgm_text = synth_triton(models, gpus), synth_dcgm(gpus)
        series = textparse.scan(triton_text).samples + textparse.scan(dcgm_text).samples
        reference_s, scrape_s, _ = scrape_versus_parser(triton_text, dcgm_text, models, max(1, rounds // 2))
        rows.append((series, scrape_s))
        print(f"scaling: {series:7d} series: scrape {scrape_s * 1e3:8.1f} ms "
              f"({scrape_s / series * 1e6:5.2f} us/series), parser {reference_s * 1e3:8.1f} ms, "
              f"ratio {scrape_s / reference_s:.3f}")
    pairs = zip(rows, rows[1:], strict=False)
    steps = [f"{a[0]} -> {b[0]} series: {b[1] / a[1] / (b[0] / a[0]):.2f}" for a, b in pairs]
    print("scaling: time growth / series growth: " + ", ".join(steps) + " (1.00 is linear)")

def concurrent_p99(triton_text: str, dcgm_text: str, scrapes: int) -> None:
    from harness.stack.replay import ReplayServer
    from triton_slo.exporters.config import build
    from triton_slo.exporters.server import MetricsServer, load_web_config

    with tempfile.TemporaryDirectory() as tmp:
        triton_file, dcgm_file = Path(tmp) / "triton.prom", Path(tmp) / "dcgm.prom"
        triton_file.write_text(triton_text)
        dcgm_file.write_text(dcgm_text)
        with ReplayServer({"/triton": triton_file, "/dcgm": dcgm_file}) as replay:
            args = argparse.Namespace(
                triton="http://127.0.0.1:1", triton_metrics=replay.url("/triton"), dcgm=replay.url("/dcgm"),
                listen="127.0.0.1:0", config=None, no_probes=True, timeout="4s")
            exporter = Exporter(build(args), probes=False)
            server = MetricsServer(exporter, "127.0.0.1", 0, load_web_config(None))
            server.start()
            latencies: list[float] = []
            lock = threading.Lock()

            def scraper() -> None:
                for _ in range(scrapes):
                    request = urllib.request.Request(server.url, headers={"Accept-Encoding": "gzip"})
                    started = time.perf_counter()
                    with urllib.request.urlopen(request, timeout=30) as response:
                        response.read()
                    with lock:
                        latencies.append(time.perf_counter() - started)

            threads = [threading.Thread(target=scraper) for _ in range(10)]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
            server.stop()
            exporter.close()
            fetches = replay.requests["/triton"]
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(f"10 concurrent scrapers x {scrapes}: P50 {statistics.median(latencies) * 1e3:.0f} ms, "
          f"P99 {p99 * 1e3:.0f} ms, max {latencies[-1] * 1e3:.0f} ms over {wall:.1f} s; "
          f"{fetches} upstream fetches for {len(latencies)} scrapes (gzip, HTTP, Triton API refused)")


if __name__ == "__main__":
    raise SystemExit(main())
