"""SLO rules and their generated promtool tests, checked by the real promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from harness.generated import slo_generate as run_generate
from triton_slo import rules
from triton_slo.artifacts import Options
from triton_slo.burnrate import detection_seconds
from triton_slo.errors import UserError
from triton_slo.model import (
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
from triton_slo.output.writers import yaml_text
from triton_slo.readers import load_spec
from triton_slo.ruletests import scenarios as test_inputs
from triton_slo.ruletests.spectests import build_tests

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
    run_generate(list(specs), tmp_path, options)
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
    doc = yaml.safe_load(yaml_text({"groups": rules.spec_rules(spec_of(availability(min_events=20)), 30).slo_groups()}))
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
    groups = rules.spec_rules(spec_of(availability()), 30).slo_groups()
    errors = groups[0]["rules"][0]["expr"]
    assert errors.startswith("sum by (model, version) (")
    assert 'reason!~"CANCELED"' in errors and 'job="triton"' in errors
    assert 'model="resnet_b", version=~"2|3"' in errors and 'model="resnet_a"' in errors


def test_ratios_are_guarded_against_no_traffic():
    groups = rules.spec_rules(spec_of(availability()), 30).slo_groups()
    for rule in groups[0]["rules"]:
        if rule.get("record", "").startswith("slo:sli_error:ratio_rate"):
            assert "> 0)" in rule["expr"], rule["expr"]


def test_generate_reports_detection_times_and_static_problems(tmp_path):
    result = run_generate([spec_of(availability(objective="90"))], tmp_path, Options())
    assert any("page-fast" in w and "can never fire" in w for w in result.warnings)
    result = run_generate([spec_of(availability())], tmp_path, Options())
    assert any("page-fast" in n and "fires 52s into a full outage" in n for n in result.notes)


def _timeline(spec: Spec, slo: str, scenario: str):
    built = build_tests(rules.spec_rules(spec, 30))
    return built.timelines[(slo, scenario)]


def _tiers(firing) -> set[tuple[str, str]]:
    return {(dict(f.labels)["severity"], dict(f.labels)["tier"]) for f in firing
            if f.alertname != rules.NO_TRAFFIC_ALERT}


def test_full_outage_pages_within_one_evaluation_of_the_workbook_time():
    spec = spec_of(availability())
    plan = rules.plan(spec, spec.slos[0])
    timeline = _timeline(spec, "availability", "fast burn")
    scenario = next(s for s in test_inputs.scenarios(plan) if s.name == "fast burn")
    outage_start = (min(s for s, _ in scenario.monotone) - 1) * test_inputs.STEP
    first_page = min(i for i, f in timeline.items() if ("critical", "page-fast") in _tiers(f))
    theoretical = detection_seconds(plan.tiers[0], plan.budget)
    assert theoretical < first_page * test_inputs.STEP - outage_start <= theoretical + test_inputs.STEP
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


# --- Sloth's getting-started spec, read unchanged ---------------------------------------------------

# The shape of Sloth's documented getting-started example (prometheus/v1).
SLOTH_GETTING_STARTED = """\
version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
  repo: "myorg/myservice"
  tier: "2"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Common SLO based on availability for HTTP request responses."
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      labels:
        category: "availability"
      annotations:
        summary: "High error rate on 'myservice' requests responses"
      page_alert:
        labels:
          severity: pageteam
          routing_key: myteam
      ticket_alert:
        labels:
          severity: "slack"
          slack_channel: "#alerts-myteam"
"""


def _alerts(path: Path) -> list[dict]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"] if "alert" in r]


@needs_promtool
def test_sloth_getting_started_rules_pass_promtool_and_keep_sloth_s_alert_labels(tmp_path):
    source = tmp_path / "sloth.yaml"
    source.write_text(SLOTH_GETTING_STARTED)
    spec = load_spec(source)
    result = run_generate([spec], tmp_path, Options())
    path = tmp_path / "rules" / "myservice-slo.yaml"
    check = promtool("check", "rules", str(path))
    assert check.returncode == 0, check.stdout + check.stderr
    alerts = _alerts(path)
    assert len(alerts) == 4
    for alert in alerts:
        labels, page = alert["labels"], alert["labels"]["tier"].startswith("page")
        assert labels["severity"] == ("pageteam" if page else "slack")
        assert labels["category"] == "availability" and labels["sloth_alert"] == "MyServiceHighErrorRate"
        assert ("routing_key" in labels) == page and ("slack_channel" in labels) == (not page)
        assert labels.get("slack_channel", "#alerts-myteam") == "#alerts-myteam"
        assert alert["annotations"]["summary"] == "High error rate on 'myservice' requests responses"
    assert any("label 'tier' of the spec is overridden" in w for w in result.warnings)
    assert any("page alerts carry severity 'pageteam'" in n for n in result.notes)


def test_sloth_severities_are_routed_and_inhibited_as_pages_and_tickets(tmp_path):
    import dataclasses
    import shutil as _shutil

    from triton_slo.alerts.alertmanager import build
    from triton_slo.model import Receiver, ServiceAlerting

    source = tmp_path / "sloth.yaml"
    source.write_text(SLOTH_GETTING_STARTED)
    spec = dataclasses.replace(load_spec(source), alerting=ServiceAlerting(
        receivers=(Receiver("pager", "webhook", url="http://127.0.0.1:9/page"),
                   Receiver("chat", "webhook", url="http://127.0.0.1:9/ticket")),
        page_receiver="pager", ticket_receiver="chat"))
    config = build([spec]).config
    service_route = config["route"]["routes"][0]
    assert [r["matchers"] for r in service_route["routes"]] == [['severity=~"critical|pageteam"'],
                                                              ['severity=~"warning|slack"']]
    assert 'severity=~"critical|pageteam"' in config["inhibit_rules"][0]["source_matchers"]
    amtool = _shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed")
    file = tmp_path / "alertmanager.yaml"
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    for severity, receiver in (("pageteam", "pager"), ("critical", "pager"), ("slack", "chat"), ("warning", "chat")):
        done = subprocess.run([amtool, "config", "routes", "test", f"--config.file={file}", "service=myservice",
                               f"severity={severity}", "alertname=TritonSloCustomBudgetBurn"],
                              capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == receiver, (severity, done.stdout, done.stderr)
    # One value cannot mean a page in one SLO and a ticket in another.
    clash = dataclasses.replace(spec.slos[0], name="other", alerting=dataclasses.replace(
        spec.slos[0].alerting, ticket_labels={"severity": "pageteam"}))
    with pytest.raises(UserError, match="ticket alerts with severity 'pageteam' cannot be routed: .* uses it for "
                                        "page alerts"):
        build([dataclasses.replace(spec, slos=(*spec.slos, clash))])


# --- a precomputed error ratio (Sloth's sli.raw) -------------------------------------------------

RAW_RATIO = ('sum(rate(http_errors_total{job="gw"}[{{.window}}])) / '
             'sum(rate(http_requests_total{job="gw"}[{{.window}}]))')


def raw_ratio_slo(**alerting) -> SLO:
    return SLO("raw", Decimal("99"), Window(30 * DAY, "30d"), RatioSLI(error_ratio=RAW_RATIO),
               alerting=SLOAlerting(**alerting))


def test_precomputed_ratio_rules_fill_the_window_and_average_the_period():
    spec = spec_of(raw_ratio_slo(min_events=10, no_traffic_for=600))
    made = rules.spec_rules(spec, 30)
    groups, plans = made.file_groups(), made.plans
    fast, period = groups
    records = {r["record"]: r["expr"] for r in fast["rules"] + period["rules"] if "record" in r}
    assert rules.ERRORS + "5m" not in records and rules.EVENTS + "5m" not in records
    assert records["slo:sli_error:ratio_rate5m"] == (
        '(sum(rate(http_errors_total{job="gw"}[5m])) / sum(rate(http_requests_total{job="gw"}[5m]))) >= 0 <= 1')
    assert records["slo:sli_error:ratio_rate6h"].startswith('(sum(rate(http_errors_total{job="gw"}[6h]))')
    assert records["slo:sli_error:ratio_rate30d"] == \
        'avg_over_time(slo:sli_error:ratio_rate5m{service="svc", slo="raw"}[30d])'
    alerts = [r for r in fast["rules"] if "alert" in r]
    # every alert window is recorded: the user's query has none of the SLO's labels, so an inline
    # window could never match a recorded one in `and` (the ticket would never fire)
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"[{window}]))" in records[f"slo:sli_error:ratio_rate{window}"]
    ticket = next(a["expr"] for a in alerts if a["labels"]["tier"] == "ticket-slow")
    assert "slo:sli_error:ratio_rate3d{" in ticket and "slo:sli_error:ratio_rate6h{" in ticket
    assert all("http_requests_total" not in a["expr"] for a in alerts)
    assert all("avg_over_time(slo:sli_events" not in a["expr"] for a in alerts)  # no min_events guard
    warnings = rules.static_warnings(plans[0], 30)
    assert any("min_events counts requests and does not apply to a precomputed error ratio" in w for w in warnings)
    assert any("no_traffic_for needs a request count" in w for w in warnings)
    notes = rules.static_notes(plans[0])
    assert any("time average of the 5m ratio (not traffic-weighted" in n for n in notes)


# Errors and requests of a gateway: 1% errors for 20 minutes, then no traffic at all (0/0 is NaN).
RAW_RATIO_TEST = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'http_errors_total{{job="gw"}}'
        values: '0+1x20 20x20'
      - series: 'http_requests_total{{job="gw"}}'
        values: '0+100x20 2000x20'
    promql_expr_test:
      - expr: slo:sli_error:ratio_rate5m
        eval_time: 10m
        exp_samples:
          - labels: 'slo:sli_error:ratio_rate5m{{service="svc",slo="raw"}}'
            value: 0.01
      - expr: slo:sli_error:ratio_rate5m
        eval_time: 35m
        exp_samples: []
      - expr: slo:sli_error:ratio_rate30d
        eval_time: 35m
        exp_samples:
          - labels: 'slo:sli_error:ratio_rate30d{{service="svc",slo="raw"}}'
            value: 0.01
      - expr: slo:period_error_budget_remaining:ratio
        eval_time: 35m
        exp_samples:
          - labels: 'slo:period_error_budget_remaining:ratio{{service="svc",slo="raw"}}'
            value: 0
"""


@needs_promtool
def test_precomputed_ratio_rules_in_promtool_drop_nan_and_average_over_time(tmp_path):
    generate(tmp_path, spec_of(raw_ratio_slo()))
    rule_file = tmp_path / "rules" / "svc-slo.yaml"
    check = promtool("check", "rules", str(rule_file))
    assert check.returncode == 0, check.stdout + check.stderr
    test_file = tmp_path / "raw-ratio.yaml"
    test_file.write_text(RAW_RATIO_TEST.format(rules=str(rule_file)))
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# --- the period group ----------------------------------------------------------------------------


def test_period_rules_run_in_their_own_slower_group_and_each_long_range_is_read_once(tmp_path):
    spec = spec_of(*ALL_KINDS, raw_ratio_slo())
    run_generate([spec], tmp_path, Options())
    text = (tmp_path / "rules" / "svc-slo.yaml").read_text()
    assert "run every 4m" in text.split("groups:")[0]
    groups = yaml.safe_load(text)["groups"]
    assert len({g["name"] for g in groups}) == len(groups) == 2 * len(spec.slos)
    for slo, fast, period in zip(spec.slos, groups[::2], groups[1::2], strict=True):
        assert period["name"] == fast["name"] + ":period" and period["interval"] == "4m" and "interval" not in fast
        assert [r["record"] for r in period["rules"]] == [f"slo:sli_error:ratio_rate{slo.window.text}",
                                                          rules.PERIOD_BURN, rules.BUDGET_REMAINING]
        every_expr = " ".join(r["expr"] for g in (fast, period) for r in g["rules"])
        long_reads = re.findall(rf"\[{slo.window.text}\]", every_expr)
        # errors and events for event SLIs, one indicator or ratio otherwise: each read once, in the period group
        assert len(long_reads) == (2 if rules.ERRORS in every_expr else 1), slo.name
        assert not re.search(rf"\[{slo.window.text}\]", " ".join(r["expr"] for r in fast["rules"]))
    assert rules.period_interval(30) == 240 and rules.period_interval(1) == 8 and rules.period_interval(600) == 600
    # An evaluation interval of 4m or more: one interval for all, nothing to state.
    run_generate([spec], tmp_path, Options(evaluation_interval="5m"))
    groups = yaml.safe_load((tmp_path / "rules" / "svc-slo.yaml").read_text())["groups"]
    assert not any("interval" in g for g in groups)
