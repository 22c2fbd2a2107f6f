"""`triton-slo status` against a real Prometheus scraping Triton-format counters we control."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from triton_slo.cli import main

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")

SPEC = """\
version: triton-slo/v1
service:
  name: svc
  triton: {{job: triton}}
  models:
    - name: resnet_a
    - name: resnet_b
slos:
  - name: availability
    objective: {objective}
    window: 1d
    sli:
      availability: {{}}
  - name: probe-latency
    objective: 99
    window: 1d
    sli:
      latency: {{threshold: 50ms, source: histogram, metric: triton_slo_probe_latency_seconds, unit: s}}
  - name: precomputed
    objective: 99
    window: 1d
    sli:
      ratio:
        error_ratio: >-
          sum(rate(nv_inference_request_failure{{job="triton"}}[{{{{.window}}}}]))
          / (sum(rate(nv_inference_request_failure{{job="triton"}}[{{{{.window}}}}]))
          + sum(rate(nv_inference_request_success{{job="triton"}}[{{{{.window}}}}])))
"""


def _metrics(k: int) -> str:
    # resnet_a: 0.5% of requests fail; resnet_b is loaded but never served (no series at all).
    return (
        "# TYPE nv_inference_request_success counter\n"
        f'nv_inference_request_success{{model="resnet_a",version="1"}} {199 * k}\n'
        "# TYPE nv_inference_request_failure counter\n"
        f'nv_inference_request_failure{{model="resnet_a",version="1"}} {k}\n'
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    from harness.stack.prometheus import Prometheus
    from harness.stack.replay import ReplayServer

    folder = tmp_path_factory.mktemp("status")
    metrics = folder / "metrics.prom"
    metrics.write_text(_metrics(0))
    with ReplayServer({"/metrics": metrics}) as replay, \
            Prometheus([{"job": "triton", "url": replay.url("/metrics")}], scrape_interval="1s") as prom:
        # 25 s of growing counters: the precomputed ratio is averaged over 10 s-aligned subquery steps,
        # and a step needs a full 10 s window of increasing counters behind it.
        for k in range(1, 26):
            time.sleep(1)
            tmp = folder / "next.prom"
            tmp.write_text(_metrics(10 * k))
            tmp.replace(metrics)
        prom.wait_for_series('nv_inference_request_failure{model="resnet_a"}', timeout=20)
        yield prom


def _spec(tmp_path: Path, objective: str) -> str:
    path = tmp_path / f"spec-{objective}.yaml"
    path.write_text(SPEC.format(objective=objective))
    return str(path)


def test_status_json_reports_budget_burn_and_no_data(prometheus, tmp_path, capsys):
    code = main(["status", _spec(tmp_path, "99"), "--prometheus", prometheus.url, "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    availability, latency, precomputed = out["slos"]
    [group] = availability["groups"]  # resnet_b has no data and is not reported as 0 errors
    assert group["labels"] == {"model": "resnet_a", "version": "1"}
    assert group["error_ratio"] == pytest.approx(0.005, rel=1e-6)
    assert group["budget_remaining_ratio"] == pytest.approx(0.5, rel=1e-4)
    assert group["budget_remaining_seconds"] == pytest.approx(0.5 * 0.01 * 86400, rel=1e-4)
    assert group["burn_rates"]["10s"] == pytest.approx(0.5, rel=1e-4)
    assert group["would_fire"] == []
    assert latency["no_data"] is True and latency["groups"] == []
    # A precomputed error ratio: the period is the time average of the base-window (10s) ratio.
    [group] = precomputed["groups"]
    assert group["labels"] == {} and group["error_ratio"] == pytest.approx(0.005, rel=1e-6)
    assert group["budget_remaining_ratio"] == pytest.approx(0.5, rel=1e-4)
    assert group["burn_rates"]["10s"] == pytest.approx(0.5, rel=1e-4) and group["would_fire"] == []


def test_status_exits_1_when_a_budget_is_exhausted(prometheus, tmp_path, capsys):
    code = main(["status", _spec(tmp_path, "99.9"), "--prometheus", prometheus.url])
    captured = capsys.readouterr()
    assert code == 1
    assert "error budget exhausted: availability" in captured.err
    assert "model=resnet_a" in captured.out and "-400.0%" in captured.out
    # A 5x burn over every window of a 99.9% SLO: both tickets, neither page (6x, 14.4x).
    assert "ticket-fast (warning), ticket-slow (warning)" in captured.out
    assert "critical" not in captured.out
    assert "probe-latency" in captured.out and "no data" in captured.out


def test_status_unreachable_prometheus_is_one_line_exit_2(tmp_path, capsys):
    from harness.stack.ports import free_port

    code = main(["status", _spec(tmp_path, "99"), "--prometheus", f"http://127.0.0.1:{free_port()}",
                 "--query-timeout", "2"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot connect" in err
