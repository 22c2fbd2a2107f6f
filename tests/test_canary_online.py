"""`triton-slo canary --prometheus` end to end on the real stack: Triton (PyTriton, CPU) serving the
residual models under load, scraped by a real Prometheus, judged through the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from triton_slo.cli import main

pytestmark = pytest.mark.stack

SPEC = """\
version: triton-slo/v1
service:
  name: canary-e2e
  models:
    - name: resnet_baseline
    - name: resnet_deep
slos:
  - name: availability
    objective: 99.9
    window: 30d
    sli:
      availability: {}
canary:
  label: model
  baseline: resnet_baseline
  canary: resnet_deep
  warmup: 0
  window: 40s
  metrics:
    - name: error_ratio
      margin: "0.02"
      critical: true
    - name: latency
      margin: 25%
      critical: true
"""


@pytest.fixture
def loaded_stack(triton_faults, prometheus_factory, tmp_path: Path):
    """resnet_deep with a 50 ms latency fault and resnet_baseline, both under load for ~45 s."""
    from harness.stack.load import LoadGenerator

    prometheus = prometheus_factory([{"job": "triton", "targets": [triton_faults.metrics_address]}],
                                    scrape_interval="1s")
    prometheus.wait_for_targets_up(timeout=30)
    triton_faults.set_fault("resnet_deep", "latency", delay_s=0.05)
    loads = [LoadGenerator(triton_faults.http_url, model, rate_per_s=15, batch_size=2, duration_s=45, threads=2)
             for model in ("resnet_baseline", "resnet_deep")]
    for load in loads:
        load.start()
    try:
        for load in loads:
            stats = load.wait(timeout=90)
            assert stats.succeeded > 300, f"{load.model}: {stats.succeeded} succeeded, errors {stats.errors[:3]}"
        time.sleep(3)  # the last scrapes
    finally:
        for load in loads:
            load.stop()
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    return prometheus, spec


def test_latency_fault_fails_same_model_passes_absent_is_inconclusive(loaded_stack, capsys):
    prometheus, spec = loaded_stack
    end = str(time.time() - 2)
    common = ["canary", "--prometheus", prometheus.url, "--spec", str(spec), "--end", end, "--slices", "8",
              "--format", "json"]
    code = main(common)
    out = json.loads(capsys.readouterr().out)
    latency = next(m for m in out["metrics"] if m["name"] == "latency")
    assert code == 1 and out["verdict"] == "FAIL", out
    assert latency["verdict"] == "FAIL" and latency["checks"][0]["difference"] > 0.25
    assert any("nv_inference_request_duration_us" in q for q in latency["promql"])
    assert next(m for m in out["metrics"] if m["name"] == "error_ratio")["verdict"] == "PASS"

    code = main([*common, "--canary", 'model="resnet_baseline"'])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["verdict"] == "PASS", out

    # A canary selector that matches nothing is absent data: never PASS. (Same stack: one load run.)
    code = main([*common, "--canary", 'model="no_such_model"'])
    out = json.loads(capsys.readouterr().out)
    assert code == 4 and out["verdict"] == "INCONCLUSIVE"
    assert all("absent" in m["checks"][0]["reason"] for m in out["metrics"])

    code = main(common[:-2])  # the table names the reason and the queries
    text = capsys.readouterr().out
    assert "latency (critical): FAIL" in text and "promql: sum(increase(nv_inference_request_duration_us" in text
    print(text)


def test_unreachable_prometheus_is_one_line(capsys, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    code = main(["canary", "--prometheus", "http://127.0.0.1:9", "--spec", str(spec)])
    err = capsys.readouterr().err
    assert code == 2 and "cannot connect" in err and len(err.strip().splitlines()) == 1
