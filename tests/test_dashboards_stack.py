"""Every query of every dashboard returns data from the real stack after a minute of load.

One stack session: the suite's Triton (PyTriton, CPU) serving the three residual models, the
triton-slo exporter probing it, a busy T4's real dcgm-exporter recording on the replay server, and
a real Prometheus scraping the three jobs the example spec names and evaluating the SLO rules
`slo.rules` generates for it. The queries that may come back empty are listed with the reason; the
test prints the list, so the demo's empty panels are known and named.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from harness.generated import run_generate
from triton_slo.artifacts import Options
from triton_slo.cli import main
from triton_slo.dashboards.generate import build_all
from triton_slo.dashboards.lint import queries_of
from triton_slo.dashboards.queries import default_values, fill_variables
from triton_slo.promapi import PromAPI
from triton_slo.readers import load_spec
from triton_slo.rules import spec_rules

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "resnet-classifier.yaml"
LOAD_SECONDS = 60
RATE_INTERVAL = "20s"  # Grafana's $__rate_interval at a 1 s scrape interval and a short range

NO_GPU = "the stack's Triton runs on CPU: no gpu_uuid, so no nv_gpu_* series and no model-to-GPU join"
# (board, panel title, refId) -> why it may be empty on the demo
MAY_BE_EMPTY: dict[tuple[str, str, str], str] = {
    ("oncall", "Firing alerts", "A"): "event: no alert fired during the run",
    ("oncall", "Recent OOM and XID events", "A"): "event: no XID error",
    ("oncall", "Recent OOM and XID events", "B"): "event: no GPU ran out of framebuffer",
    ("oncall", "GPU memory per model", "A"): NO_GPU,
    ("debug", "Memory per inference", "A"): NO_GPU,
    ("debug", "GPU utilization", "B"): NO_GPU,
    ("debug", "Triton memory", "B"): NO_GPU,
    ("oncall", "GPU throttling", "A"): "event: no throttle reasons field in the replayed dcgm recording",
    ("debug", "Throttle reasons", "A"): "event: no throttle reasons field in the replayed dcgm recording",
    ("debug", "Exporter errors", "A"): "event: the exporter had no scrape error",
    ("debug", "Exporter errors", "B"): "event: the exporter had no parse error",
    ("oncall", "Canary deltas", "A"): "needs the canary-delta rules of slo.canary, when that generator exists",
    **{(board, "annotation Model readiness changed", "-"): "event: no model became unready during the run"
       for board in ("executive", "oncall", "debug", "slo")},
}


def _rule_files(spec: Any, out: Path) -> list[Path]:
    result = run_generate([spec], out, Options(evaluation_interval="1s"))
    return [f for f in result.files if f.parent.name == "rules"]


@pytest.mark.stack
@pytest.mark.timeout(240)
def test_every_dashboard_query_returns_data_after_a_minute_of_load(
    triton: Any, replay: Any, golden_set: Path, prometheus_factory: Any, shared_dir: Path, tmp_path: Path,
) -> None:
    from harness.stack.load import LoadGenerator
    from harness.stack.ports import free_port
    from harness.stack.process import ManagedProcess

    spec = load_spec(EXAMPLE)
    rules = _rule_files(spec, tmp_path / "generated")
    assert rules, "triton_slo.rules wrote no rule file"
    replay.set("/dashboards/dcgm/metrics", shared_dir / "fixtures" / "dcgm_T4_under-load_ericsson_no-help-type.prom")
    token = tmp_path / "triton-token"
    token.write_text(triton.access_token)
    config = tmp_path / "exporter.yaml"
    config.write_text("probes:\n  interval: 2s\n  golden:\n    interval: 3s\n")
    port = free_port()
    exporter = ManagedProcess("triton-slo export", [
        sys.executable, "-m", "triton_slo", "export", "--triton", triton.http_url,
        "--triton-metrics", triton.metrics_url,
        "--triton-token-file", str(token), "--dcgm", replay.url("/dashboards/dcgm/metrics"),
        "--listen", f"127.0.0.1:{port}", "--golden", str(golden_set), "--no-passthrough", "--config", str(config),
    ], tmp_path / "exporter.log")
    with exporter:
        exporter.wait_for_url(f"http://127.0.0.1:{port}/metrics", timeout=30)
        prometheus = prometheus_factory([
            {"job": "triton", "targets": [triton.metrics_address]},
            {"job": "dcgm-exporter", "url": replay.url("/dashboards/dcgm/metrics")},
            {"job": "triton-slo", "targets": [f"127.0.0.1:{port}"]},
        ], rule_files=rules, scrape_interval="1s", evaluation_interval="1s")
        loads = [LoadGenerator(triton.http_url, model.name, 4.0, 4, LOAD_SECONDS).start()
                 for model in spec.service.models]
        for load in loads:
            assert load.wait(timeout=LOAD_SECONDS + 60).succeeded > 0, f"{load.model}: no request succeeded"
        time.sleep(3)  # the last scrapes and rule evaluations

        api = PromAPI(prometheus.url)
        values = default_values(spec, rate_interval=RATE_INTERVAL)
        empty, checked = [], 0
        for board, data in build_all(spec_rules(spec, 1)).items():
            for panel, target in queries_of(data):
                checked += 1
                if not api.query(fill_variables(target["expr"], values)):
                    empty.append((board, panel["title"], target["refId"]))
            for annotation in data["annotations"]["list"]:
                if "expr" in annotation and not api.query(fill_variables(annotation["expr"], values)):
                    empty.append((board, f"annotation {annotation['name']}", "-"))
        snapshot = tmp_path / "oncall.png"  # the same board without Grafana, for a person to look at
        assert main(["snapshot", "--prometheus", prometheus.url, "--spec", str(EXAMPLE), "-o", str(snapshot),
                     "--range", "2m", "--rate-interval", RATE_INTERVAL]) == 0
    unexpected = [key for key in empty if key not in MAY_BE_EMPTY]
    print(f"\n{checked} panel queries checked, {len(empty)} empty (listed):")
    for key in empty:
        print(f"  {key[0]} / {key[1]} / {key[2]}: {MAY_BE_EMPTY.get(key, 'UNEXPECTED')}")
    assert unexpected == [], f"queries without data on the demo: {unexpected}"
    assert checked > 60
