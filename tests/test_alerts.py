"""Operational alert rules: promtool checks them and runs their generated unit tests, per spec."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from harness.generated import ops_generate as generate
from triton_slo import names
from triton_slo.alerts import opsrules
from triton_slo.alerts.opsrules import OPS_ALERTS, ops_rules
from triton_slo.alerts.ruletests import humanize_duration, humanize_percentage, render
from triton_slo.artifacts import Options
from triton_slo.model import SLO, AvailabilitySLI, ModelRef, OpsThresholds, Service, ServiceAlerting, Spec, Window
from triton_slo.readers import load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "resnet-classifier.yaml"


def promtool() -> str:
    binary = shutil.which("promtool")
    if not binary:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return binary


def minimal_spec() -> Spec:
    """No models listed, no exporter selector, default thresholds, no receivers."""
    service = Service(name="minimal", triton_selector={"job": "triton"})
    slo = SLO(name="availability", objective=Decimal("99.5"),
              window=Window(seconds=28 * 86400, text="28d"), sli=AvailabilitySLI())
    return Spec(service=service, slos=(slo,))


def versioned_spec() -> Spec:
    """Versions pinned, two selector labels, unusual thresholds, P99 ticket off."""
    base = load_spec(str(EXAMPLE))
    service = dataclasses.replace(
        base.service, name="detector",
        triton_selector={"job": "triton", "namespace": "ml"},
        exporter_selector={"job": "triton-slo", "namespace": "ml"},
        models=(ModelRef("resnet_deep", ("2", "3")), ModelRef("resnet_concat")),
        runbook_base_url="https://wiki.example.com/runbooks#",
    )
    thresholds = OpsThresholds(p99_warning_seconds=0, p99_critical_seconds=2.5, memory_headroom_warning=0.2,
                               throttle_for_seconds=1800, accuracy_warning=0.99, queue_time_warning_seconds=0.005)
    alerting = dataclasses.replace(base.alerting, thresholds=thresholds, labels={"team": "vision"})
    return dataclasses.replace(base, service=service, alerting=alerting)


SPECS = {
    "example": lambda: load_spec(str(EXAMPLE)),
    "minimal": minimal_spec,
    "versioned": versioned_spec,
}


@pytest.fixture(params=sorted(SPECS))
def spec(request: pytest.FixtureRequest) -> Spec:
    return SPECS[request.param]()


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules_and_passes_their_generated_tests(spec: Spec, tmp_path: Path) -> None:
    binary = promtool()
    result = generate([spec], tmp_path, Options())
    name = spec.service.name
    assert {p.relative_to(tmp_path).as_posix() for p in result.files} == {
        f"rules/{name}-ops.yaml", f"tests/{name}-ops.yaml", "alertmanager.yaml"}
    check = run([binary, "check", "rules", f"rules/{name}-ops.yaml"], tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout and "duplicate" not in check.stdout + check.stderr
    tested = run([binary, "test", "rules", f"tests/{name}-ops.yaml"], tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_emitted_alert_has_a_firing_and_a_quiet_case(spec: Spec, tmp_path: Path) -> None:
    generate([spec], tmp_path, Options())
    document = yaml.safe_load((tmp_path / "tests" / f"{spec.service.name}-ops.yaml").read_text())
    firing, quiet = set(), set()
    for case in document["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    emitted = {r.alert for r in ops_rules(spec)}
    assert firing == emitted and quiet == emitted


@pytest.mark.parametrize(("needle", "broken"), [
    ("> 0.1\n", "> 1000\n"),  # P99 page threshold
    ('xid=~"31|43"', 'xid=~"3|4"'),  # OOM XIDs
    ('reason=~"BACKEND|"', 'reason=~"REJECTED"'),  # backend failures
    ("< 0.95", "> 0.95"),  # golden accuracy
])
def test_the_generated_tests_fail_when_a_rule_is_broken(needle: str, broken: str, tmp_path: Path) -> None:
    binary = promtool()
    spec = load_spec(str(EXAMPLE))
    generate([spec], tmp_path, Options())
    rules = tmp_path / "rules" / "resnet-classifier-ops.yaml"
    text = rules.read_text()
    assert needle in text
    rules.write_text(text.replace(needle, broken))
    tested = run([binary, "test", "rules", "tests/resnet-classifier-ops.yaml"], tmp_path)
    assert tested.returncode != 0
    assert "FAILED" in tested.stdout + tested.stderr


def test_rules_follow_the_conventions(spec: Spec) -> None:
    for rule in ops_rules(spec):
        document = opsrules.rule_document(spec, rule)
        labels, annotations = document["labels"], document["annotations"]
        assert re.fullmatch(r"TritonSlo[A-Z][A-Za-z0-9]+", rule.alert)
        assert labels["service"] == spec.service.name and labels["severity"] in ("critical", "warning")
        assert set(annotations) == {"summary", "description", "runbook_url", "dashboard_url"}
        assert "{{" not in annotations["summary"], "the summary is a static sentence"
        assert "$value" in annotations["description"]
        assert annotations["runbook_url"].endswith(rule.alert.lower()) or annotations["runbook_url"].endswith(
            rule.alert.lower() + ".md")
        assert "/d/tslo-" in annotations["dashboard_url"]
        if rule.alert not in (names.GPU_OUT_OF_MEMORY, names.GPU_LOST):
            assert rule.for_seconds > 0, f"{rule.alert} pages on a single evaluation"
        for key, value in spec.service.triton_selector.items():
            if "nv_inference" in rule.expr:
                assert f'{key}="{value}"' in rule.expr


def test_thresholds_come_from_the_spec() -> None:
    spec = versioned_spec()
    exprs = {(r.alert, r.severity, r.labels.get("source")): r for r in ops_rules(spec)}
    assert ("TritonSloP99LatencyHigh", "warning", "triton_summary") not in exprs  # p99_warning 0: off
    assert exprs[("TritonSloP99LatencyHigh", "critical", "triton_summary")].expr.endswith("> 2.5")
    assert exprs[("TritonSloGpuThrottling", "warning", None)].for_seconds == 1800
    assert "< 0.2" in exprs[("TritonSloGpuMemoryHeadroomLow", "warning", None)].expr
    assert "> 0.005" in exprs[("TritonSloQueueTimeGrowing", "warning", None)].expr
    assert 'version=~"2|3"' in exprs[("TritonSloQueueTimeGrowing", "warning", None)].expr
    assert {r.alert for r in ops_rules(minimal_spec())} == set(OPS_ALERTS) - {"TritonSloGoldenAccuracyLow"}


def test_alert_names_are_those_names_assigns_to_the_ops_alerts() -> None:
    assert OPS_ALERTS is names.OPS_ALERTS  # the names module's, not a copy
    assert {r.alert for r in ops_rules(load_spec(EXAMPLE))} <= set(names.OPS_ALERTS)


def test_triton_series_the_rules_read_exist_in_a_real_recording(shared_dir: Path) -> None:
    recording = (shared_dir / "fixtures" / "triton_T4_7models_scrape1_sonic.prom").read_text()
    families = set(re.findall(r"^# TYPE (\S+) ", recording, re.M))
    # Summaries are opt-in (--metrics-config summary_latencies=true) and newer than this Triton.
    for metric in (names.TRITON_REQUEST_FAILURE, names.TRITON_REQUEST_SUCCESS, names.TRITON_QUEUE_DURATION_US):
        assert metric in families
        assert re.search(rf'^{metric}{{model="[^"]+",version="[^"]+"', recording, re.M)


def test_kubernetes_target_writes_prometheus_rules_and_no_promtool_tests(tmp_path: Path) -> None:
    spec = load_spec(str(EXAMPLE))
    result = generate([spec], tmp_path, Options(target="kubernetes"))
    document = yaml.safe_load((tmp_path / "rules" / "resnet-classifier-ops.yaml").read_text())
    assert document["kind"] == "PrometheusRule"
    assert document["spec"]["groups"][0]["rules"][0]["alert"] == "TritonSloServerDown"
    assert not (tmp_path / "tests").exists() or not list((tmp_path / "tests").iterdir())
    assert any("not written for --target kubernetes" in n for n in result.notes)


def test_template_helpers_render_like_prometheus() -> None:
    # What Prometheus' template.go prints for these values.
    assert humanize_duration(0) == "0s"
    assert humanize_duration(0.1) == "100ms"
    assert humanize_duration(0.0001) == "100us"
    assert humanize_duration(1) == "1s"
    assert humanize_duration(60) == "1m 0s"
    assert humanize_duration(3600) == "1h 0m 0s"
    assert humanize_duration(86400) == "1d 0h 0m 0s"
    assert humanize_duration(1.2345) == "1.234s"
    assert humanize_percentage(0.5) == "50%"
    assert render('{{ $labels.model }} {{ printf "%.0f" $value }}', {"model": "m"}, 3.0) == "m 3"
    with pytest.raises(ValueError, match="not supported"):
        render("{{ $value | humanize }}", {}, 1.0)


def test_service_alerting_defaults_generate(tmp_path: Path) -> None:
    spec = dataclasses.replace(minimal_spec(), alerting=ServiceAlerting())
    result = generate([spec], tmp_path, Options())
    assert any("placeholder" in w for w in result.warnings)


@pytest.mark.parametrize("thresholds", [
    OpsThresholds(p99_warning_seconds=0.001, p99_critical_seconds=0.00101, memory_headroom_warning=1.0,
                  throttle_for_seconds=60, accuracy_warning=0.01, queue_time_warning_seconds=0.0001),
    OpsThresholds(p99_warning_seconds=65, p99_critical_seconds=650, memory_headroom_warning=0.01,
                  throttle_for_seconds=3600, accuracy_warning=1.0, queue_time_warning_seconds=2.5),
], ids=["tiny", "huge"])
def test_generated_tests_hold_for_extreme_thresholds(thresholds: OpsThresholds, tmp_path: Path) -> None:
    binary = promtool()
    base = load_spec(str(EXAMPLE))
    spec = dataclasses.replace(base, alerting=dataclasses.replace(base.alerting, thresholds=thresholds))
    generate([spec], tmp_path, Options())
    tested = run([binary, "test", "rules", "tests/resnet-classifier-ops.yaml"], tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
