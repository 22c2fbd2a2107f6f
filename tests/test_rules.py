"""SLO rules and their generated promtool tests, checked by the real promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from slo import rule_tests, rules
from slo.burnrate import detection_seconds
from slo.generate import Options
from slo.model import (
    SLO,
    AccuracySLI,
    AvailabilitySLI,
    BurnRateTier,
    LatencySLI,
    ModelRef,
    RatioSLI,
    Service,
    SLOAlerting,
    Spec,
    TimesliceSLI,
    Window,
)
from slo.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "resnet-classifier.yaml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
DAY = 86400


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=240)


def service(**kw) -> Service:
    return Service(name="svc", triton_selector={"job": "triton"}, exporter_selector={"job": "triton-slo"},
                   models=(ModelRef("resnet_a"), ModelRef("resnet_b", ("2", "3"))), **kw)


def spec_of(*slos: SLO, svc: Service | None = None) -> Spec:
    return Spec(service=svc or service(), slos=slos)


def availability(name="availability", objective="99.9", days=30, **alerting) -> SLO:
    return SLO(name, Decimal(objective), Window(days * DAY, f"{days}d"), AvailabilitySLI(("CANCELED",)),
               alerting=SLOAlerting(**alerting))


def generate(tmp_path: Path, *specs: Spec) -> Path:
    options = Options()
    rules.generate(list(specs), tmp_path, options)
    rule_tests.generate(list(specs), tmp_path, options)
    return tmp_path


@needs_promtool
def test_example_rules_pass_promtool_check_and_their_tests(tmp_path):
    out = generate(tmp_path, load_spec(str(EXAMPLE)))
    check = promtool("check", "rules", str(out / "rules" / "resnet-classifier-slo.yaml"))
    assert check.returncode == 0, check.stdout + check.stderr
    test = promtool("test", "rules", str(out / "tests" / "resnet-classifier-slo.yaml"))
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]


def test_thresholds_are_written_as_exact_decimals(tmp_path):
    out = generate(tmp_path, spec_of(availability(objective="99.95"), availability("other", objective="99.9")))
    text = (out / "rules" / "svc-slo.yaml").read_text()
    assert "> 0.0072" in text and "> 0.0144" in text and "vector(0.0005)" in text
    assert not re.search(r"\d\.\d*(0000000|9999999)\d", text), "a float artefact in the rules"


def test_every_series_and_alert_carries_service_slo_and_labels(tmp_path):
    svc = service(labels={"team": "ml"})
    doc = yaml.safe_load(rules.dump_yaml({"groups": rules.spec_groups(spec_of(availability(min_events=20)), 30)[0]}))
    for rule in doc["groups"][0]["rules"]:
        labels = rule["labels"]
        assert labels["service"] == "svc" and labels["slo"] == "availability"
        if "alert" in rule:
            assert labels["severity"] in ("critical", "warning") and labels["tier"]
            annotations = rule["annotations"]
            assert set(annotations) >= {"summary", "description", "runbook_url", "dashboard_url"}
            assert "$value" in annotations["description"] and "budget left" in annotations["description"]
            assert annotations["runbook_url"].endswith("tritonsloavailabilitybudgetburn.md")
    del svc


def test_per_model_aggregation_selectors_and_exclusions():
    groups, _ = rules.spec_groups(spec_of(availability()), 30)
    errors = groups[0]["rules"][0]["expr"]
    assert errors.startswith("sum by (model, version) (")
    assert 'reason!~"CANCELED"' in errors and 'job="triton"' in errors
    assert 'model="resnet_b", version=~"2|3"' in errors and 'model="resnet_a"' in errors


def test_ratios_are_guarded_against_no_traffic():
    groups, _ = rules.spec_groups(spec_of(availability()), 30)
    for rule in groups[0]["rules"]:
        if rule.get("record", "").startswith("slo:sli_error:ratio_rate"):
            assert "> 0)" in rule["expr"], rule["expr"]


def test_generate_reports_detection_times_and_static_problems(tmp_path):
    result = rules.generate([spec_of(availability(objective="90"))], tmp_path, Options())
    assert any("page-fast" in w and "can never fire" in w for w in result.warnings)
    result = rules.generate([spec_of(availability())], tmp_path, Options())
    assert any("page-fast" in n and "fires 52s into a full outage" in n for n in result.notes)


def _timeline(spec: Spec, slo: str, scenario: str):
    built = rule_tests.build_tests(spec, 30)
    return built.timelines[(slo, scenario)]


def _tiers(firing) -> set[tuple[str, str]]:
    return {(dict(f.labels)["severity"], dict(f.labels)["tier"]) for f in firing
            if f.alertname != rules.NO_TRAFFIC_ALERT}


def test_full_outage_pages_within_one_evaluation_of_the_workbook_time():
    spec = spec_of(availability())
    plan = rules.plan(spec, spec.slos[0])
    timeline = _timeline(spec, "availability", "fast burn")
    scenario = next(s for s in rule_tests.scenarios(plan) if s.name == "fast burn")
    outage_start = (min(s for s, _ in scenario.monotone) - 1) * rule_tests.STEP
    first_page = min(i for i, f in timeline.items() if ("critical", "page-fast") in _tiers(f))
    theoretical = detection_seconds(plan.tiers[0], plan.budget)
    assert theoretical < first_page * rule_tests.STEP - outage_start <= theoretical + rule_tests.STEP
    assert ("critical", "page-fast") not in _tiers(timeline[first_page - 1])
    # The burn stops: the page clears.
    last = max(timeline)
    assert not {t for t in _tiers(timeline[last]) if t[0] == "critical"}


def test_a_2x_burn_opens_a_ticket_and_pages_nobody():
    spec = spec_of(availability())
    timeline = _timeline(spec, "availability", "slow burn")
    seen = set().union(*(_tiers(f) for f in timeline.values()))
    assert ("warning", "ticket-slow") in seen
    assert not {t for t in seen if t[0] == "critical"}


def test_low_traffic_does_not_page_and_silence_raises_no_traffic():
    spec = spec_of(availability(min_events=50, no_traffic_for=900))
    low = _timeline(spec, "availability", "low traffic")
    # 100% errors, but fewer than 50 requests in the 5m window: the fast page stays quiet (the 30m
    # window of the slow page holds enough requests to count).
    assert ("critical", "page-fast") not in {t for f in low.values() for t in _tiers(f)}
    silence = _timeline(spec, "availability", "silence")
    last = silence[max(silence)]
    models = {dict(f.labels)["model"] for f in last if f.alertname == rules.NO_TRAFFIC_ALERT}
    assert models == {"resnet_a", "resnet_b"}


ALL_KINDS = (
    availability(no_traffic_for=600, min_events=30),
    SLO("latency", Decimal("99"), Window(28 * DAY, "28d"), LatencySLI(0.05, "summary", quantile=0.99)),
    SLO("probe", Decimal("99.5"), Window(7 * DAY, "7d"),
        LatencySLI(0.25, "histogram", metric="triton_slo_probe_latency_seconds", metric_unit="s")),
    SLO("ms-histogram", Decimal("98"), Window(DAY, "1d"),
        LatencySLI(0.1, "histogram", metric="nv_inference_first_response_histogram_ms", metric_unit="ms"),
        alerting=SLOAlerting(tiers=(BurnRateTier("fast", "critical", Decimal("10"), 1800, 300),))),
    SLO("accuracy", Decimal("95"), Window(7 * DAY, "7d"), AccuracySLI(), alerting=SLOAlerting(page=False)),
    SLO("ratio", Decimal("99"), Window(30 * DAY, "30d"),
        RatioSLI(total='sum by (route) (rate(http_requests_total{job="gw"}[{{.window}}]))',
                 bad='sum by (route) (rate(http_requests_total{job="gw",code=~"5.."}[{{.window}}]))')),
    SLO("headroom", Decimal("99"), Window(30 * DAY, "30d"),
        TimesliceSLI("min by (gpu, UUID) (triton_slo_gpu_memory_headroom_ratio)", ">=", 0.1)),
)


@needs_promtool
def test_every_kind_passes_promtool_check_and_generated_tests(tmp_path):
    out = generate(tmp_path, spec_of(*ALL_KINDS))
    check = promtool("check", "rules", str(out / "rules" / "svc-slo.yaml"))
    assert check.returncode == 0, check.stdout + check.stderr
    test = promtool("test", "rules", str(out / "tests" / "svc-slo.yaml"))
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]


NO_TRAFFIC_TEST = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'nv_inference_request_success{{job="triton",model="resnet_a",version="1"}}'
        values: '0+0x30'
      - series: 'nv_inference_request_failure{{job="triton",model="resnet_a",version="1"}}'
        values: '0+0x30'
    promql_exp_test:
      - expr: slo:sli_error:ratio_rate5m
        eval_time: 20m
        exp_samples: []
      - expr: slo:sli_error:ratio_rate1h
        eval_time: 20m
        exp_samples: []
      - expr: slo:period_error_budget_remaining:ratio
        eval_time: 20m
        exp_samples: []
      - expr: slo:sli_events:rate5m
        eval_time: 20m
        exp_samples:
          - labels: 'slo:sli_events:rate5m{{model="resnet_a",service="svc",slo="availability",version="1"}}'
            value: 0
"""


@needs_promtool
def test_no_traffic_gives_no_ratio_at_all(tmp_path):
    out = generate(tmp_path, spec_of(availability()))
    test_file = tmp_path / "no-traffic.yaml"
    test_file.write_text(NO_TRAFFIC_TEST.replace("promql_exp_test", "promql_expr_test")
                         .format(rules=str(out / "rules" / "svc-slo.yaml")))
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
