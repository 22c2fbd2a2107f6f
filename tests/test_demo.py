"""`make demo`: the compact demo on its own real stack, checked from the summary it writes and from the
components themselves before they stop; `--no-stack` against a real Prometheus and Alertmanager; the
time compression and the Alertmanager rewrite against the real spec loader and amtool."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from harness.demo import build_parser, main, options, run
from harness.demo.compress import compress_spec, rewrite_alertmanager
from triton_slo.cli import main as cli_main
from triton_slo.readers import parse_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "resnet-classifier.yaml"
PAGE = "TritonSloAvailabilityBudgetBurn"


def _verdict(entry: dict, metric: str | None = None) -> str | None:
    verdict = entry.get("verdict") or {}
    if metric is None:
        return verdict.get("verdict")
    return next((m["verdict"] for m in verdict.get("metrics", []) if m["name"] == metric), None)


def _judge_again(prometheus_url: str, spec: str, recorded: dict, *extra: str) -> tuple[int, dict]:
    """The canary judge re-run from the CLI over exactly the window the demo judged."""
    window = recorded["verdict"]["window"]
    argv = ["canary", "--prometheus", prometheus_url, "--spec", spec, "--end", str(window["end"]),
            "--window", f"{int(window['end'] - window['start'])}s", *extra, "--format", "json"]
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(argv)
    return code, json.loads(out.getvalue())


@pytest.mark.stack
@pytest.mark.timeout(420)  # about 3 minutes on a quiet machine; pages may take longer to clear on a busy one
def test_quick_demo_plays_the_four_steps(tmp_path: Path) -> None:
    parser = build_parser()
    opts = options(parser.parse_args(["--quick", "--out", str(tmp_path / "demo")]), parser)
    seen: dict[str, Any] = {}

    def inspect(stack: Any, summary: Any) -> None:
        """Ask the real components, before the demo stops them."""
        steps, prom = summary.data["steps"], stack.prometheus
        spec = summary.data["steps"]["generate"]["demo_spec"]["spec"]
        seen["webhook"] = stack.webhook.received_alerts()
        page = (f'ALERTS{{alertname="{PAGE}", model="resnet_deep", severity="critical", alertstate="firing"}}')
        seen["fired_in_prometheus"] = prom.query_range(page, steps["fault"]["at"], steps["rollback"]["at"], 1)
        seen["firing_now"] = prom.query(page)
        seen["alertmanager_active"] = [a for a in stack.alertmanager.alerts(active="true")
                                       if a["labels"].get("model") == "resnet_deep"
                                       and a["labels"].get("severity") == "critical"]
        seen["canary_ready"] = stack.triton.model_ready("resnet_deep")
        seen["baseline_ready"] = stack.triton.model_ready("resnet_baseline")
        seen["status_steady"] = cli_main(["status", spec, "--prometheus", prom.url,
                                          "--time", str(steps["steady"]["at"])])
        seen["fault_judged_again"] = _judge_again(prom.url, spec, steps["fault"]["canary"])
        seen["control_judged_again"] = _judge_again(
            prom.url, spec, steps["control"]["canary"], "--baseline", 'model="resnet_baseline"',
            "--canary", 'model="resnet_baseline"', "--weight", "50")

    began = time.monotonic()
    code = run(opts, inspect=inspect)
    wall = time.monotonic() - began
    out = tmp_path / "demo"
    summary = json.loads((out / "summary.json").read_text())
    assert code == 0, (summary.get("error"), summary.get("checks"))
    assert summary["ok"] and all(summary["checks"].values()), summary["checks"]
    steps = summary["steps"]

    # generated for examples/ with the real windows, and for the compressed demo spec
    assert {p.name for p in (out / "generated" / "rules").glob("*-slo.yaml")} == {
        "resnet-classifier-slo.yaml", "resnet-classifier-openslo-slo.yaml", "resnet-classifier-sloth-slo.yaml"}
    assert "ratio_rate30d" in (out / "generated" / "rules" / "resnet-classifier-slo.yaml").read_text()
    assert "ratio_rate1d" in (out / "live" / "generated" / "rules" / "resnet-classifier-slo.yaml").read_text()

    # 1. steady state: status exit 0, nothing would fire (recorded, and again at that time)
    assert steps["steady"]["status"]["exit_code"] == 0 and steps["steady"]["status"]["would_fire"] == []
    assert seen["status_steady"] == 0

    # 2. the healthy canary has a verdict with reasons, and its error ratio was not failing
    canary = steps["canary"]
    assert _verdict(canary) in ("PASS", "FAIL", "MARGINAL", "INCONCLUSIVE")
    assert all(c["reason"] for m in canary["verdict"]["metrics"] for c in m["checks"])
    assert _verdict(canary, "error_ratio") != "FAIL"
    assert canary["costs"]["figures"]["mean_latency_ms"]["resnet_deep"] > 0

    # 3. the page reached the webhook with its runbook URL; the runbook printed; the judge FAILs the canary
    fault = steps["fault"]
    firing = [a for a in seen["webhook"] if a["status"] == "firing" and a["labels"]["alertname"] == PAGE
              and a["labels"]["model"] == "resnet_deep" and a["labels"]["severity"] == "critical"]
    assert firing, seen["webhook"]
    runbook_url = firing[0]["annotations"]["runbook_url"]
    assert runbook_url == fault["page"]["annotations"]["runbook_url"]
    assert Path(urlsplit(runbook_url).path).is_file()
    assert fault["runbook"]["exit_code"] == 0 and fault["runbook"]["stdout"].startswith(f"# {PAGE}")
    assert seen["fired_in_prometheus"], "Prometheus never had the page firing"
    assert _verdict(fault["canary"]) == "FAIL" and _verdict(fault["canary"], "error_ratio") == "FAIL"
    held = fault["alertmanager"]  # Alertmanager's own view during the incident: pages out, tickets inhibited
    assert any(a["severity"] == "critical" and a["state"] == "active" for a in held), held
    assert all(a["state"] == "suppressed" and a["inhibited"] for a in held if a["severity"] == "warning"), held
    code_again, again = seen["fault_judged_again"]
    assert code_again == 1 and again["verdict"] == "FAIL"

    # 4. rollback: the canary is gone, every page tier that fired was resolved, nothing pages any more
    tiers_fired = {a["labels"]["tier"] for a in firing}
    resolved_after = [a for a in seen["webhook"][seen["webhook"].index(firing[0]):]
                      if a["status"] == "resolved" and a["labels"]["alertname"] == PAGE
                      and a["labels"]["model"] == "resnet_deep"]
    assert tiers_fired <= {a["labels"]["tier"] for a in resolved_after}, (tiers_fired, resolved_after)
    assert seen["firing_now"] == [] and seen["alertmanager_active"] == []
    assert seen["canary_ready"] is False and seen["baseline_ready"] is True

    # control: an identical canary (the same model on both arms) PASSes, recorded and judged again
    assert _verdict(steps["control"]["canary"]) == "PASS"
    code_again, again = seen["control_judged_again"]
    assert code_again == 0 and again["verdict"] == "PASS"

    # the on-call board and the narration
    assert (out / "oncall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "summary.txt").read_text()
    for words in ("windows compressed for the demo", "[3/7", "page after", "resolved after", "done in"):
        assert words in text
    print(f"\nquick demo: {wall:.0f} s wall, exit {code}")


@pytest.mark.stack
def test_no_stack_uses_your_servers_and_says_what_it_skipped(tmp_path, prometheus_factory, alertmanager_factory,
                                                             capsys) -> None:
    prometheus = prometheus_factory([])
    alertmanager = alertmanager_factory()
    alertmanager.post_alerts([{"labels": {"alertname": "TritonSloGpuOutOfMemory", "severity": "critical",
                                          "service": "resnet-classifier", "gpu": "0"}}])
    out = tmp_path / "demo"
    code = main(["--no-stack", "--prometheus", prometheus.url, "--alertmanager", alertmanager.url,
                 "--triton", "http://127.0.0.1:9", "--out", str(out)])
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert code == 0, printed
    assert summary["mode"] == "no-stack"
    assert any("fault injection" in s for s in summary["skipped"]) and "fault injection" in printed
    assert summary["components"]["triton"]["ready"] is False
    assert summary["components"]["alertmanager"]["active_triton_slo_alerts"][0]["alertname"] == \
        "TritonSloGpuOutOfMemory"
    runbooks = summary["steps"]["runbook"]["runs"]
    assert runbooks[0]["command"] == ["triton-slo", "runbook", "TritonSloGpuOutOfMemory"]
    assert runbooks[0]["exit_code"] == 0
    assert summary["steps"]["status"]["status"]["exit_code"] == 0  # no data is not an exhausted budget
    assert _verdict(summary["steps"]["canary"]) == "INCONCLUSIVE"  # an empty Prometheus is never PASS
    assert (out / "oncall.png").is_file() and (out / "generated" / "alertmanager.yaml").is_file()


def test_bad_flags_are_one_line_errors(capsys) -> None:
    for argv, words in ((["--triton", "http://127.0.0.1:8000"], "--triton needs --no-stack"),
                        (["--no-stack"], "--no-stack needs --prometheus"),
                        (["--no-stack", "--prometheus", "localhost:9090"], "expected an http"),
                        (["--factor", "0.5"], "--factor 0.5: must be at least 1")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_compressed_spec_loads_and_pages_within_minutes() -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    compressed, changes = compress_spec(doc, 30, "file:///tmp/runbooks")
    spec = parse_spec(yaml.safe_dump(compressed), "demo.yaml")  # the real validator accepts it
    windows = {s.name: s.window.seconds for s in spec.slos}
    assert windows["availability"] == 86400 and windows["latency-p99"] == 28 * 86400 // 30
    assert spec.canary.window_seconds == 60 and spec.canary.warmup_seconds == 10
    assert spec.service.runbook_base_url == "file:///tmp/runbooks"
    assert doc["slos"][0]["window"] == "30d"  # the example itself is untouched
    assert any("30d -> 1d" in c for c in changes)
    from triton_slo.burnrate import tiers_for

    page_fast = tiers_for(next(s for s in spec.slos if s.name == "availability"))[0]
    assert (page_fast.long_window, page_fast.short_window) == (120, 10)
    # explicit tiers are compressed too; nothing goes under the validator's 1h minimum
    doc["slos"][0]["window"] = "2h"
    doc["slos"][0]["alerting"]["tiers"] = [{"name": "p", "severity": "critical", "factor": 14.4,
                                            "long": "1h", "short": "5m"}]
    compressed, _ = compress_spec(doc, 30)
    assert compressed["slos"][0]["window"] == "1h"
    assert compressed["slos"][0]["alerting"]["tiers"][0] == {"name": "p", "severity": "critical",
                                                             "factor": 14.4, "long": "2m", "short": "10s"}


def test_rewritten_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed")
    assert cli_main(["generate", str(EXAMPLE), "-o", str(tmp_path / "gen")]) == 0
    config = yaml.safe_load((tmp_path / "gen" / "alertmanager.yaml").read_text())
    rewritten, notes = rewrite_alertmanager(config, "http://127.0.0.1:5001", 30)
    assert {r["name"] for r in rewritten["receivers"]} == {r["name"] for r in config["receivers"]}
    assert all(list(r) == ["name", "webhook_configs"] and
               r["webhook_configs"][0]["url"] == f"http://127.0.0.1:5001/{r['name']}" for r in rewritten["receivers"])
    page_route = next(r for child in rewritten["route"]["routes"] for r in child.get("routes", [])
                      if r["matchers"] == ['severity="critical"'])
    assert (page_route["group_wait"], page_route["group_interval"], page_route["repeat_interval"]) == ("1s", "10s",
                                                                                                       "8m")
    assert rewritten["inhibit_rules"] == config["inhibit_rules"]
    assert rewritten.get("mute_time_intervals") == config.get("mute_time_intervals")
    path = tmp_path / "am.yaml"
    path.write_text(yaml.safe_dump(rewritten))
    check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    assert any("pagerduty" in n for n in notes)


def test_without_the_recordings_it_says_so(monkeypatch, tmp_path: Path) -> None:
    import harness.demo

    monkeypatch.setattr(harness.demo, "_shared_recording", lambda name: tmp_path / "absent" / name)
    parser = build_parser()
    opts = options(parser.parse_args(["--out", str(tmp_path)]), parser)
    assert opts.dcgm_recording is None and "NONE" in opts.dcgm_note and "not found" in opts.dcgm_note
    recording = tmp_path / "dcgm.prom"
    recording.write_text("")
    opts = options(parser.parse_args(["--dcgm-recording", str(recording)]), parser)
    assert opts.dcgm_recording == recording
