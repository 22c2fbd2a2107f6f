"""`triton-slo canary judge` through the real CLI: verdicts, exit codes, formats and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from triton_slo.cli import main

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, metrics: dict, name: str = "data.json", **top) -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"metrics": metrics, **top}))
    return str(path)


def lognormal(seed: int, n: int, factor: float = 1.0) -> list[float]:
    return (np.random.default_rng(seed).lognormal(np.log(20), 0.4, n) * factor).round(4).tolist()


def judge_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["canary", "judge", *argv, "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_fail_on_error_ratio_with_the_reason(tmp_path, capsys):
    data = write(tmp_path, {"error_ratio": {"baseline": {"bad": 20, "total": 20000},
                                            "canary": {"bad": 100, "total": 20000}}})
    code, out = judge_json(capsys, "--data", data)
    assert code == 1 and out["verdict"] == "FAIL"
    check = out["metrics"][0]["checks"][0]
    assert check["verdict"] == "FAIL" and check["n_baseline"] == 20000 and check["p_worse"] < 1e-6
    assert check["interval"][0] > 0.001 and check["margin"] == 0.001 and "Farrington" in check["test"]


def test_pass_needs_every_metric_shown_within_margin(tmp_path, capsys):
    data = write(tmp_path, {
        "latency_ms": {"baseline": lognormal(1, 6000), "canary": lognormal(2, 6000)},
        "error_ratio": {"baseline": {"bad": 10, "total": 100000}, "canary": {"bad": 12, "total": 100000}},
    })
    code, out = judge_json(capsys, "--data", data)
    assert out["verdict"] == "PASS" and code == 0
    assert {c["check"] for c in out["metrics"][0]["checks"]} == {"mean", "p99"}


def test_too_little_data_is_inconclusive_with_requests_needed(tmp_path, capsys):
    data = write(tmp_path, {"latency_ms": {"baseline": lognormal(1, 20), "canary": lognormal(2, 20)}})
    code, out = judge_json(capsys, "--data", data)
    assert code == 4 and out["verdict"] == "INCONCLUSIVE"
    needs = [c["more_requests_needed"] for c in out["metrics"][0]["checks"]]
    assert all(isinstance(n, int) and n > 0 for n in needs)
    assert "more requests per arm needed" in out["metrics"][0]["checks"][1]["reason"]


def test_absent_baseline_is_never_pass(tmp_path, capsys):
    data = write(tmp_path, {"error_ratio": {"canary": {"bad": 0, "total": 50000}},
                            "latency_ms": {"baseline": lognormal(1, 6000), "canary": lognormal(2, 6000)}})
    code, out = judge_json(capsys, "--data", data)
    assert code == 4 and out["verdict"] == "INCONCLUSIVE"
    assert "absent" in out["metrics"][0]["checks"][0]["reason"]


def test_non_critical_failure_is_marginal_and_config_overrides_data(tmp_path, capsys):
    base = [4.0e9 + 1e7 * (i % 7) for i in range(120)]
    data = write(tmp_path, {
        "error_ratio": {"baseline": {"bad": 10, "total": 100000}, "canary": {"bad": 12, "total": 100000}},
        "gpu_memory_bytes": {"baseline": base, "canary": [v * 1.3 for v in base], "margin": "50%"},
    })
    code, out = judge_json(capsys, "--data", data)
    assert code == 0 and out["verdict"] == "PASS"  # +30% is within the data file's 50%
    config = tmp_path / "canary.yaml"
    config.write_text("metrics:\n  gpu_memory_bytes:\n    margin: 10%\n")
    code, out = judge_json(capsys, "--data", data, "--config", str(config))
    assert code == 3 and out["verdict"] == "MARGINAL"
    memory = out["metrics"][1]
    assert memory["verdict"] == "FAIL" and memory["critical"] is False and memory["margin"] == "10%"


def test_nonfinite_outputs_are_zero_tolerance(tmp_path, capsys):
    data = write(tmp_path, {"nonfinite_outputs": {"baseline": {"bad": 0, "total": 1000},
                                                  "canary": {"bad": 1, "total": 1000}}})
    code, out = judge_json(capsys, "--data", data)
    assert code == 1 and "NaN/Inf" in out["metrics"][0]["checks"][0]["reason"]


def test_paired_golden_set_reports_flips(tmp_path, capsys):
    rng = np.random.default_rng(4)
    base = (rng.random(2000) < 0.9).astype(int)
    canary = base.copy()
    flip = rng.choice(2000, 200, replace=False)
    canary[flip[:170]] = 0  # 170 items broken, 30 fixed (if they were wrong before)
    canary[flip[170:]] = 1
    data = write(tmp_path, {"golden_accuracy": {"baseline": base.tolist(), "canary": canary.tolist()}})
    code, out = judge_json(capsys, "--data", data)
    check = out["metrics"][0]["checks"][0]
    assert code == 1 and check["check"] == "paired accuracy" and "prediction flips" in check["reason"]


def test_sample_ratio_mismatch_blocks_a_pass(tmp_path, capsys):
    data = write(tmp_path, {"error_ratio": {"baseline": {"bad": 10, "total": 100000},
                                            "canary": {"bad": 3, "total": 30000}}}, weight=10)
    code, out = judge_json(capsys, "--data", data)
    assert out["metrics"][0]["sample_ratio_p"] < 1e-6 and out["verdict"] == "INCONCLUSIVE" and code == 4


def test_table_and_html_report(tmp_path, capsys):
    data = write(tmp_path, {"latency_ms": {"baseline": lognormal(1, 3000), "canary": lognormal(2, 3000, 1.3)},
                            "error_ratio": {"baseline": {"bad": 1, "total": 3000},
                                            "canary": {"bad": 2, "total": 3000}}})
    report = tmp_path / "r.html"
    code = main(["canary", "judge", "--data", data, "--report", str(report)])
    text = capsys.readouterr().out
    assert code == 1
    assert "METRIC" in text and "latency_ms (critical): FAIL" in text and "verdict: FAIL" in text
    html = report.read_text()
    assert html.count("data:image/png;base64,") == 2 and "Canary verdict" in html


BAD_INPUTS = [
    ("{not json", "not valid JSON"),
    ({"metrics": {"lat": {"baseline": [1, 2], "canary": {"bad": 1, "total": 2}}}}, "'lat': one arm has samples"),
    ({"metrics": {"err": {"baseline": {"bad": -1, "total": 5}, "canary": {"bad": 0, "total": 5}}}},
     "'err': field 'baseline'.bad"),
    ({"metrics": {"err": {"baseline": {"bad": 6, "total": 5}, "canary": {"bad": 0, "total": 5}}}}, "bad 6 > total 5"),
    ({"metrics": {"lat": {"baseline": [1], "canary": [2], "direction": "up"}}}, "'lat': field 'direction'"),
    ({"metrics": {"lat": {"baseline": [1], "canary": [2], "margin": "lots"}}}, "'lat': field 'margin'"),
    ({"metrics": {"lat": {"baseline": [1, "x"], "canary": [2]}}}, "'lat': field 'baseline'[1]"),
    ({"metrics": {"lat": {"baseline": [1], "canary": [2], "treshold": 3}}}, "'lat': unknown field 'treshold'"),
    ({"metrics": {"lat": {"baseline": 5, "canary": [2]}}}, "'lat': field 'baseline'"),
    ({"metrics": []}, "expected an object"),
]


@pytest.mark.parametrize("payload,message", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, payload, message):
    path = tmp_path / "bad.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    code = main(["canary", "judge", "--data", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_flags_of_the_other_mode_are_refused(tmp_path, capsys):
    data = write(tmp_path, {"x": {"baseline": [1.0] * 5, "canary": [1.0] * 5}})
    assert main(["canary", "judge", "--data", data, "--prometheus", "http://127.0.0.1:9"]) == 2
    assert main(["canary", "--data", data]) == 2
    assert main(["canary", "judge"]) == 2
    assert "--data" in capsys.readouterr().err


def test_installed_entry_point_runs_the_offline_judge(tmp_path):
    data = write(tmp_path, {"error_ratio": {"baseline": {"bad": 20, "total": 20000},
                                            "canary": {"bad": 100, "total": 20000}}})
    done = subprocess.run([sys.executable, "-m", "triton_slo", "canary", "judge", "--data", data, "--format", "json"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and json.loads(done.stdout)["verdict"] == "FAIL"
