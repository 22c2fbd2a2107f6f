"""Canary-delta rules: valid for promtool, and the alert fires on a regression and not without one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from harness.generated import canary_generate as generate
from triton_slo.artifacts import Options
from triton_slo.canary.rules import ALERT
from triton_slo.readers import load_spec

SPEC = """\
version: triton-slo/v1
service:
  name: shop
  runbook_base_url: https://runbooks.example.com
  dashboard_base_url: https://grafana.example.com
  triton: {job: triton}
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
  window: 10m
  metrics:
    - name: error_ratio
      margin: "0.01"
      critical: true
    - name: latency
      margin: 20%
"""

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    result = generate([load_spec(spec)], tmp_path / "out", Options())
    assert result.files == [tmp_path / "out" / "rules" / "shop-canary.yaml"]
    return result.files[0]


def test_rule_names_labels_and_annotations(rules: Path):
    group = yaml.safe_load(rules.read_text())["groups"][0]
    records = [r["record"] for r in group["rules"] if "record" in r]
    assert all(name.startswith("slo:canary_delta:") for name in records)
    alerts = [r for r in group["rules"] if "alert" in r]
    assert {a["labels"]["metric"] for a in alerts} == {"error_ratio", "latency"}
    for alert in alerts:
        assert alert["alert"] == ALERT and alert["labels"]["severity"] == "warning"
        assert alert["labels"]["service"] == "shop"
        assert alert["annotations"]["runbook_url"] == "https://runbooks.example.com/tritonslocanaryregression.md"
        assert alert["annotations"]["dashboard_url"].startswith("https://grafana.example.com/d/")
        assert "{{ $value }}" in alert["annotations"]["description"]


def test_no_canary_no_file(tmp_path: Path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.split("canary:")[0])
    assert generate([load_spec(spec)], tmp_path / "out", Options()).files == []


@needs_promtool
def test_promtool_checks_and_the_alert_fires_only_on_a_regression(rules: Path, tmp_path: Path):
    check = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    alert = next(r for r in yaml.safe_load(rules.read_text())["groups"][0]["rules"]
                 if r.get("labels", {}).get("metric") == "error_ratio")
    b, c = 'job="triton",model="resnet_baseline"', 'job="triton",model="resnet_deep"'
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "30s",
        "tests": [
            {   # the canary fails 5% of its requests, the baseline none: ticket after the window and `for`
                "interval": "1m",
                "input_series": [
                    {"series": f"nv_inference_request_success{{{b}}}", "values": "0+600x40"},
                    {"series": f"nv_inference_request_failure{{{b}}}", "values": "0+0x40"},
                    {"series": f"nv_inference_request_duration_us{{{b}}}", "values": "0+6000000x40"},
                    {"series": f"nv_inference_request_success{{{c}}}", "values": "0+570x40"},
                    {"series": f"nv_inference_request_failure{{{c}}}", "values": "0+30x40"},
                    {"series": f"nv_inference_request_duration_us{{{c}}}", "values": "0+5700000x40"},
                ],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": ALERT, "exp_alerts": []},
                    {"eval_time": "30m", "alertname": ALERT, "exp_alerts": [{
                        "exp_labels": alert["labels"],
                        "exp_annotations": {**alert["annotations"], "description": alert["annotations"][
                            "description"].replace("{{ $value }}", "0.05")},
                    }]},
                ],
            },
            {   # identical arms: no ticket
                "interval": "1m",
                "input_series": [
                    {"series": f"nv_inference_request_success{{{arm}}}", "values": "0+600x40"} for arm in (b, c)
                ] + [
                    {"series": f"nv_inference_request_failure{{{arm}}}", "values": "0+1x40"} for arm in (b, c)
                ] + [
                    {"series": f"nv_inference_request_duration_us{{{arm}}}", "values": "0+6000000x40"}
                    for arm in (b, c)
                ],
                "alert_rule_test": [{"eval_time": "30m", "alertname": ALERT, "exp_alerts": []}],
            },
        ],
    }
    test_file = tmp_path / "canary-test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run([PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
