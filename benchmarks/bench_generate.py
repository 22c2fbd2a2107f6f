"""Benchmark of `triton-slo generate` on a large spec: the whole CLI path, and each generator.

    .venv/bin/python benchmarks/bench_generate.py [--slos 1000] [--models 40] [--repeat 3] [--no-reference]

Writes a spec with ``--slos`` SLOs (a realistic mix: availability, latency from Triton's summary
and from the probe histogram, golden accuracy, custom ratio and timeslice SLIs, 30d/28d/7d
windows, a few per-SLO alerting overrides) over ``--models`` models to a temp file, with a
canary section, receivers and mute intervals, then:

1. runs ``triton-slo generate SPEC -o OUT`` in-process (``slo.cli.main``: spec loading included),
   best of ``--repeat``, and prints the total and, from the same run, each generator's time and
   what it wrote (their ``generate`` functions wrapped in a timer); from 200 SLOs on, the rule
   tests run in two forked processes beside the other generators, so their time is printed from
   a run of their own; then the same with ``--target kubernetes``;
2. reference, in the same process: the whole command with nothing forked;
3. reference, in the same process: the same spec with a tenth of the SLOs, its time scaled by 10
   (generation should stay linear in the SLO count), and the time PyYAML's pure-Python dumper
   takes merely to write the generated rule files again (the naive way of writing them).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slo import generate as generate_module  # noqa: E402
from slo import rule_tests  # noqa: E402
from slo.cli import main as cli_main  # noqa: E402
from slo.generate import GENERATORS, Options  # noqa: E402
from slo.spec import load_spec  # noqa: E402

KINDS = ("availability", "availability", "availability", "latency-summary", "latency-summary",
         "latency-histogram", "accuracy", "ratio", "timeslice", "availability-versions")


def _sli(kind: str, i: int) -> str:
    if kind.startswith("availability"):
        return "      availability: {exclude_reasons: [CANCELED]}\n" if i % 2 else "      availability: {}\n"
    if kind == "latency-summary":
        return (f"      latency: {{threshold: {(25, 50, 100)[i % 3]}ms, source: summary, quantile: 0.99, "
                "slice: 1m}\n")
    if kind == "latency-histogram":
        return "      latency: {threshold: 50ms, source: histogram, metric: triton_slo_probe_latency_seconds}\n"
    if kind == "accuracy":
        return "      accuracy: {}\n"
    if kind == "ratio":
        return ("      ratio:\n"
                f"        total: sum(rate(http_requests_total{{job=\"gateway\",route=\"/r{i}\"}}[{{{{.window}}}}]))\n"
                f"        bad: sum(rate(http_requests_total{{job=\"gateway\",route=\"/r{i}\",code=~\"5..\"}}"
                "[{{.window}}]))\n")
    return ("      timeslice:\n"
            f"        query: min by (gpu, UUID) (triton_slo_gpu_memory_headroom_ratio{{gpu=\"{i % 8}\"}})\n"
            "        op: \">=\"\n        threshold: 0.1\n        slice: 1m\n")


def spec_text(slos: int, models: int) -> str:
    """A triton-slo spec with ``slos`` SLOs over ``models`` models (each SLO covers one or two)."""
    lines = [
        "version: triton-slo/v1",
        "service:",
        "  name: bench-fleet",
        "  description: A large fleet of residual classifiers.",
        "  team: ml-platform",
        "  runbook_base_url: https://git.example.com/ml-platform/runbooks/blob/main",
        "  dashboard_base_url: https://grafana.example.com",
        "  triton: {job: triton}",
        "  dcgm: {job: dcgm-exporter}",
        "  exporter: {job: triton-slo}",
        "  labels: {priority: p1}",
        "  models:",
    ]
    for m in range(models):
        lines.append(f"    - name: resnet_{m}" + ("\n      versions: ['1', '2']" if m % 5 == 0 else ""))
    lines.append("slos:")
    for i in range(slos):
        kind = KINDS[i % len(KINDS)]
        model = i % models
        window = ("30d", "28d", "7d")[i % 3]
        objective = ("99.9", "99", "99.5", "95")[i % 4] if kind != "accuracy" else "95"
        lines += [f"  - name: {kind}-{i}",
                  f"    description: SLO {i} of the fleet ({kind}).",
                  f"    objective: {objective}",
                  f"    window: {window}"]
        if kind in ("availability", "latency-summary", "latency-histogram", "accuracy"):
            lines.append(f"    models: [resnet_{model}" + (f", resnet_{(model + 1) % models}]" if i % 4 == 0 else "]"))
        elif kind == "availability-versions":
            versioned = (model // 5) * 5
            lines.append(f"    models: [{{name: resnet_{versioned}, versions: ['2']}}]")
        lines.append("    sli:")
        lines.append(_sli(kind, i).rstrip("\n"))
        if kind.startswith("availability"):
            lines.append("    alerting: {min_events: 20, no_traffic_for: 15m}" if i % 7 == 0 else
                         "    alerting: {min_events: 20}")
        elif kind in ("accuracy", "timeslice") or i % 11 == 0:
            lines.append("    alerting: {page: false}")
        if i % 13 == 0:
            lines.append(f"    labels: {{owner: team-{i % 4}}}")
    lines += [
        "alerting:",
        "  receivers:",
        "    - {name: pager, type: pagerduty, routing_key_file: /etc/alertmanager/secrets/pd}",
        "    - {name: tickets, type: slack, url_file: /etc/alertmanager/secrets/slack, channel: '#ml'}",
        "  page_receiver: pager",
        "  ticket_receiver: tickets",
        "  group_by: [service, slo, model, version]",
        "  mute_intervals:",
        "    - name: weekly-retraining",
        "      severities: [warning]",
        "      times:",
        "        - weekdays: [sunday]",
        "          times: [{start_time: '02:00', end_time: '04:00'}]",
        "  thresholds: {p99_warning: 40ms, p99_critical: 100ms, memory_headroom_warning: 0.1, "
        "accuracy_warning: 0.95, queue_time_warning: 20ms}",
        "canary:",
        "  label: model",
        "  baseline: resnet_0",
        "  canary: resnet_1",
        "  window: 30m",
        "  metrics:",
        "    - {name: error_ratio, critical: true}",
        "    - {name: latency_p99, margin: 10%, critical: true}",
        "    - {name: accuracy, direction: decrease, margin: '0.01'}",
    ]
    return "\n".join(lines) + "\n"


def cli_generate(spec_path: Path, out: Path, *extra: str) -> float:
    """Seconds `triton-slo generate SPEC -o OUT` takes in-process (its report swallowed)."""
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli_main(["generate", str(spec_path), "-o", str(out), *extra])
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"triton-slo generate exited {code}")
    return elapsed


BACKGROUND_NOTE = "2 forked processes beside the other generators"


def timed_call(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


@contextlib.contextmanager
def one_process():
    """Generation without forked processes (the reference the parallel run is compared with)."""
    saved = generate_module.BACKGROUND_MIN_SLOS
    generate_module.BACKGROUND_MIN_SLOS = 10**12
    try:
        yield
    finally:
        generate_module.BACKGROUND_MIN_SLOS = saved


def best(runs: int, fn) -> float:
    return min(fn() for _ in range(runs))


@contextlib.contextmanager
def timed_generators(rows: list[tuple[str, float, int, int]]):
    """Wraps each generator's ``generate`` so that one run of the CLI also gives the time of each."""
    originals = {}
    for what, module_name in GENERATORS:
        module = importlib.import_module(module_name)
        originals[module] = original = module.generate

        def timed(specs, out, options, original=original, what=what):
            started = time.perf_counter()
            result = original(specs, out, options)
            rows.append((what, time.perf_counter() - started, len(result.files),
                         sum(f.stat().st_size for f in result.files)))
            return result

        module.generate = timed
    try:
        yield
    finally:
        for module, original in originals.items():
            module.generate = original


def pure_python_dump_seconds(out: Path) -> float:
    """Seconds PyYAML's pure-Python SafeDumper takes to write the generated rule files again."""
    documents = [yaml.load(p.read_text(), Loader=yaml.CSafeLoader) for p in sorted((out / "rules").glob("*.yaml"))]
    started = time.perf_counter()
    for document in documents:
        yaml.dump(document, Dumper=yaml.SafeDumper, sort_keys=False, width=120)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole command; the best counts")
    parser.add_argument("--no-reference", action="store_true", help="skip the pure-Python YAML reference")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        root = Path(tmp)
        spec_path = root / "fleet.yaml"
        spec_path.write_text(spec_text(args.slos, args.models))
        small_path = root / "fleet-small.yaml"
        small_path.write_text(spec_text(max(1, args.slos // 10), args.models))

        runs = []
        for _ in range(args.repeat):
            rows: list[tuple[str, float, int, int]] = []
            with timed_generators(rows):
                runs.append((cli_generate(spec_path, root / "out"), rows))
        total, rows = min(runs, key=lambda run: run[0])
        files = [p for p in (root / "out").rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        print(f"triton-slo generate, {args.slos} SLOs over {args.models} models: {total:.2f} s "
              f"(best of {args.repeat}; {len(files)} files, {size / 1e6:.1f} MB)")
        background = generate_module.fork_pays([load_spec(spec_path)])
        for what, seconds, count, written in rows:
            print(f"  {what:38s} {seconds:6.2f} s  {count:4d} files {written / 1e6:6.2f} MB")
        rest = "spec loading, CLI, waiting for the tests" if background else "spec loading, CLI and the rest"
        print(f"  {rest:38s} {total - sum(r[1] for r in rows):6.2f} s")
        if background:
            alone = best(1, lambda: timed_call(rule_tests.generate, [load_spec(spec_path)], root / "rt", Options()))
            print(f"  SLO rule tests ({BACKGROUND_NOTE}):  {alone:6.2f} s when run alone")
        k8s = best(1, lambda: cli_generate(spec_path, root / "k8s", "--target", "kubernetes"))
        print(f"  (--target kubernetes, whole command:   {k8s:6.2f} s)")
        if background:
            with one_process():
                sequential = best(1, lambda: cli_generate(spec_path, root / "seq"))
            print(f"reference: the same command in one process (no forked rule tests): {sequential:.2f} s "
                  f"(ratio measured/one process {total / sequential:.2f})")

        small = best(args.repeat, lambda: cli_generate(small_path, root / "small"))
        scaled = small * args.slos / max(1, args.slos // 10)
        print(f"reference: {max(1, args.slos // 10)} SLOs {small:.2f} s, scaled to {args.slos}: {scaled:.2f} s "
              f"(ratio measured/scaled {total / scaled:.2f}: 1 is linear)")
        if not args.no_reference:
            naive = pure_python_dump_seconds(root / "out")
            print(f"reference: PyYAML's pure-Python dumper alone writing the rule files again: {naive:.2f} s "
                  f"(whole generate / that: {total / naive:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
