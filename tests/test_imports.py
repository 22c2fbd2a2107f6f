"""Sloth prometheus/v1 and OpenSLO v1 files onto the spec model, and what cannot be mapped."""

from __future__ import annotations

import re
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from triton_slo.model import RatioSLI, SLOAlerting, TimesliceSLI, Window
from triton_slo.readers import SpecError, load_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PROBLEM_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    found = []
    for line in str(caught.value).splitlines():
        match = PROBLEM_LINE.match(line)
        assert match and match["file"] == str(path), line
        found.append((int(match["line"]), int(match["col"]), match["message"]))
    return found


def messages(found: list[tuple[int, int, str]]) -> str:
    return "\n".join(f"{line}:{col}: {message}" for line, col, message in found)


# --- Sloth --------------------------------------------------------------------------------------

SLOTH = """\
version: "prometheus/v1"
service: "My.Service-1"
labels:
  owner: myteam
slos:
  - name: "requests-availability"
    objective: 99.95
    description: "Availability of HTTP requests."
    labels:
      category: availability
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{ .window }}]))
    alerting:
      name: MyServiceHighErrorRate
      labels:
        team: a
      annotations:
        runbook: https://runbooks.example.com/errors
      page_alert:
        labels:
          severity: critical
          channel: "#oncall"
      ticket_alert:
        labels:
          severity: warning
          channel: "#oncall"
"""


def test_sloth_example_maps_onto_the_model() -> None:
    spec = load_spec(EXAMPLES / "sloth-triton.yaml")
    assert spec.source_format == "sloth"
    assert spec.service.name == "resnet-classifier-sloth"
    assert spec.service.labels == {"team": "ml-platform", "service_tier": "1"}
    assert [s.name for s in spec.slos] == ["requests-availability", "probe-latency", "golden-accuracy",
                                           "probe-success"]
    availability, latency, accuracy, probes = spec.slos
    assert availability.window == Window(30 * 86400, "30d")
    assert availability.objective == Decimal("99.9")
    assert isinstance(availability.sli, RatioSLI) and not availability.sli.good
    assert "nv_inference_request_failure" in availability.sli.bad and "{{.window}}" in availability.sli.total
    assert availability.labels == {"triton_model": "resnet_baseline"}
    assert availability.alerting.labels == {"category": "availability", "sloth_alert": "ResnetAvailabilityBudgetBurn"}
    assert availability.alerting.annotations == {"summary": "resnet_baseline is failing inference requests"}
    assert availability.alerting.page_labels == {"severity": "pageteam", "routing_key": "ml-platform"}
    assert availability.alerting.ticket_labels == {"severity": "slack", "slack_channel": "#ml-platform-alerts"}
    assert availability.alerting.page_annotations == {"title": "(page) resnet_baseline availability budget burns fast"}
    assert (availability.alerting.page, availability.alerting.ticket) == (True, True)
    assert (latency.alerting.page, latency.alerting.ticket) == (False, True)
    assert accuracy.objective == Decimal("95")
    assert probes.sli.precomputed and not probes.sli.total and "{{.window}}" in probes.sli.error_ratio


def test_sloth_alert_labels_go_on_their_own_alerts(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, SLOTH))
    slo = spec.slos[0]
    assert spec.service.name == "My.Service-1"  # Sloth's names allow capitals and dots
    assert slo.sli == RatioSLI(total="sum(rate(http_requests_total[{{ .window }}]))",
                               bad='sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))')
    assert slo.alerting == SLOAlerting(
        page=True, ticket=True, labels={"team": "a", "sloth_alert": "MyServiceHighErrorRate"},
        annotations={"runbook": "https://runbooks.example.com/errors"},
        page_labels={"severity": "critical", "channel": "#oncall"},
        ticket_labels={"severity": "warning", "channel": "#oncall"})
    assert slo.labels == {"category": "availability"} and slo.description == "Availability of HTTP requests."


def test_sloth_without_alerting_pages_and_tickets(tmp_path: Path) -> None:
    text = SLOTH.split("    alerting:")[0]
    assert load_spec(write(tmp_path, text)).slos[0].alerting == SLOAlerting()


def test_sloth_plugins_are_errors_naming_the_field_and_raw_is_a_precomputed_ratio(tmp_path: Path) -> None:
    found = problems(tmp_path, """\
        version: prometheus/v1
        service: wifi
        slo_plugins:
          chain: [{id: "sloth.dev/core/debug/v1"}]
        slos:
          - name: satisfaction
            objective: 95
            plugins: {chain: []}
            sli:
              raw:
                error_ratio_query: 1 - avg(avg_over_time(satisfaction_ratio[{{.window}}]))
          - name: plugged
            objective: 99
            sli:
              plugin:
                id: sloth-common/kubernetes/apiserver/availability
        """)
    assert [(line, col) for line, col, _ in found] == [(3, 1), (8, 5), (15, 7)]
    assert found[0][2].startswith("slo_plugins: Sloth SLO plugins change the rules")
    assert found[1][2].startswith("slos[0].plugins: ")
    assert found[2][2].startswith("slos[1].sli.plugin: Sloth SLI plugins cannot be mapped")


def test_sloth_raw_error_ratio_query(tmp_path: Path) -> None:
    (slo,) = load_spec(write(tmp_path, """\
        version: prometheus/v1
        service: wifi
        slos:
          - name: satisfaction
            objective: 95
            sli:
              raw:
                error_ratio_query: 1 - avg(avg_over_time(satisfaction_ratio[{{.window}}]))
        """)).slos
    assert slo.sli == RatioSLI(error_ratio="1 - avg(avg_over_time(satisfaction_ratio[{{.window}}]))")
    found = problems(tmp_path, """\
        version: prometheus/v1
        service: wifi
        slos:
          - name: satisfaction
            objective: 95
            sli:
              raw:
                error_ratio_query: 1 - avg(satisfaction_ratio)
        """)
    assert found == [(8, 9, "slos[0].sli.raw.error_ratio_query: needs a {{.window}} range (e.g. "
                            "rate(x[{{.window}}])) so each alert window can be computed")]


def test_sloth_severity_of_its_own_and_labels_that_differ(tmp_path: Path) -> None:
    text = SLOTH.replace("          severity: critical\n", "          severity: pageteam\n", 1)
    text = text.replace('channel: "#oncall"\n      ticket_alert', 'channel: "#pager"\n      ticket_alert')
    alerting = load_spec(write(tmp_path, text)).slos[0].alerting
    assert alerting.page_labels == {"severity": "pageteam", "channel": "#pager"}
    assert alerting.ticket_labels == {"severity": "warning", "channel": "#oncall"}
    assert alerting.tier_labels("critical")["channel"] == "#pager"
    assert alerting.tier_labels("warning")["team"] == "a"


def test_sloth_disabled_alert(tmp_path: Path) -> None:
    text = SLOTH.replace("      ticket_alert:\n", "      ticket_alert:\n        disable: true\n")
    slo = load_spec(write(tmp_path, text)).slos[0]
    assert (slo.alerting.page, slo.alerting.ticket) == (True, False)
    assert slo.alerting.page_labels["channel"] == "#oncall"


def test_sloth_checks(tmp_path: Path) -> None:
    found = problems(tmp_path, """\
        version: prometheus/v2
        service: "my service"
        slos:
          - name: a
            objective: 100
            sli:
              events:
                error_query: sum(rate(errors[5m]))
                total_query: sum(rate(all[{{.window}}])
          - name: a
            objectiv: 99
            sli:
              events:
                error_query: sum(rate(all[{{.window}}]))
                total_query: sum(rate(all[{{.window}}]))
              raw: {error_ratio_query: x}
        """)
    text = messages(found)
    assert "1:1: version: 'prometheus/v2' is not supported; Sloth specs are read as 'prometheus/v1'" in text
    assert "2:1: service: 'my service': a name starts and ends with a letter or digit" in text
    assert "5:5: slos[0].objective: 100 must be strictly between 0 and 100" in text
    assert "8:9: slos[0].sli.events.error_query: needs a {{.window}} range" in text
    assert "9:9: slos[0].sli.events.total_query: PromQL does not parse" in text
    assert "11:5: slos[1].objectiv: unknown key 'objectiv'; did you mean 'objective'?" in text
    assert "10:5: slos[1].objective: required" in text
    assert "12:5: slos[1].sli: exactly one of events, raw, plugin is needed; found events, raw" in text
    assert "15:9: slos[1].sli.events.total_query: the same as error_query" in text


def test_sloth_one_service_per_file(tmp_path: Path) -> None:
    one = SLOTH.split("    alerting:")[0]
    found = problems(tmp_path, one + "---\n" + one.replace("My.Service-1", "other"))
    assert found == [(16, 1, "a file holds one Sloth spec (one service); found 2 documents: split them into one "
                             "file each")]


def test_sloth_reserved_alert_name_label(tmp_path: Path) -> None:
    found = problems(tmp_path, SLOTH.replace("        team: a\n", "        sloth_alert: x\n"))
    assert found == [(18, 9, "slos[0].alerting.labels.sloth_alert: reserved for alerting.name")]
    found = problems(tmp_path, SLOTH.replace("          channel: \"#oncall\"\n      ticket_alert",
                                             "          sloth_alert: x\n      ticket_alert"))
    assert found == [(24, 11, "slos[0].alerting.page_alert.labels.sloth_alert: reserved for alerting.name")]


# --- OpenSLO ------------------------------------------------------------------------------------

def test_openslo_example_maps_onto_the_model() -> None:
    spec = load_spec(EXAMPLES / "openslo-triton.yaml")
    assert spec.source_format == "openslo"
    assert spec.service.name == "resnet-classifier-openslo"
    assert spec.service.labels == {"team": "ml-platform"}
    assert spec.service.description.startswith("Handwritten-digit classifier")
    slos = {slo.name: slo for slo in spec.slos}
    assert list(slos) == ["availability-0", "availability-1", "queue-time", "probe-latency"]
    assert [slos[n].objective for n in ("availability-0", "availability-1")] == [Decimal("99.9"), Decimal("99.5")]
    assert slos["availability-0"].description == "Inference requests succeed. (internal)"
    assert slos["availability-0"].labels == {"category": "availability"}
    assert slos["availability-0"].window == Window(28 * 86400, "28d")
    assert slos["availability-0"].sli == RatioSLI(
        good='sum by (model, version) (rate(nv_inference_request_success{job="triton"}[{{.window}}]))',
        total='sum by (model, version) (rate({__name__=~"nv_inference_request_(success|failure)",job="triton"}'
              '[{{.window}}]))')
    queue = slos["queue-time"]
    assert queue.window == Window(30 * 86400, "month", calendar=True)
    assert isinstance(queue.sli, TimesliceSLI)
    assert (queue.sli.op, queue.sli.threshold, queue.sli.slice_seconds) == ("<", 20000.0, 60)
    assert "nv_inference_queue_duration_us" in queue.sli.query
    assert slos["probe-latency"].window.seconds == 7 * 86400 and slos["probe-latency"].objective == Decimal("99")


OPENSLO = """\
apiVersion: openslo/v1
kind: SLI
metadata:
  name: success
spec:
  ratioMetric:
    counter: true
    good:
      metricSource:
        type: Prometheus
        spec:
          query: nv_inference_request_success{model="m"}
    total:
      metricSource:
        type: Prometheus
        spec:
          query: sum without (reason) (nv_inference_count{model="m"})
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: avail
spec:
  service: svc
  indicatorRef: success
  budgetingMethod: Occurrences
  objectives:
    - target: 0.995
"""  # the SLO's spec starts on line 24


def test_openslo_counters_become_rates_and_the_window_defaults_to_30d(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, OPENSLO))
    assert spec.service.name == "svc"
    (slo,) = spec.slos
    assert slo.name == "avail" and slo.objective == Decimal("99.5") and slo.window == Window(30 * 86400, "30d")
    assert slo.sli == RatioSLI(good='sum(rate(nv_inference_request_success{model="m"}[{{.window}}]))',
                               total='sum without (reason) (rate(nv_inference_count{model="m"}[{{.window}}]))')


@pytest.mark.parametrize("target, percent", [("0.5", "50"), ("0.9999", "99.99"), ("0.90", "90")])
def test_openslo_targets_become_percentages(tmp_path: Path, target: str, percent: str) -> None:
    spec = load_spec(write(tmp_path, OPENSLO.replace("target: 0.995", f"target: {target}")))
    assert str(spec.slos[0].objective) == percent


@pytest.mark.parametrize("change, where, expected", [
    (("indicatorRef: success", "indicatorRef: sucess"), (25, 3),
     "spec.indicatorRef: no SLI named 'sucess'; did you mean 'success'?"),
    (("budgetingMethod: Occurrences", "budgetingMethod: RatioTimeslices"), (26, 3),
     "spec.budgetingMethod: RatioTimeslices (the mean of per-slice ratios) cannot be mapped; use Occurrences"),
    (("budgetingMethod: Occurrences", "budgetingMethod: Timeslices"), (26, 3),
     "spec.budgetingMethod: Timeslices over a ratioMetric cannot be mapped"),
    (("budgetingMethod: Occurrences", "budgetingMethod: Ocurrences"), (26, 3),
     "spec.budgetingMethod: 'Ocurrences' is not one of Occurrences, Timeslices, RatioTimeslices; did you mean "
     "'Occurrences'?"),
    (("target: 0.995", "target: 1"), (28, 7), "spec.objectives[0].target: 1 must be strictly between 0 and 1"),
    (("target: 0.995", "targetPercent: 100"), (28, 7),
     "spec.objectives[0].targetPercent: 100 must be strictly between 0 and 100"),
    (("target: 0.995", "target: 0.9\n      targetPercent: 90"), (28, 7),
     "spec.objectives[0]: exactly one of target or targetPercent is needed"),
    (("target: 0.995", "target: 0.9\n      op: gt"), (29, 7), "spec.objectives[0].op: only with a thresholdMetric"),
    (("target: 0.995", "target: 0.9\n      indicatorRef: success"), (29, 7),
     "spec.objectives[0].indicatorRef: composite SLOs cannot be mapped"),
    (("target: 0.995", "target: 0.9\n      timeSliceWindow: 1m"), (29, 7),
     "spec.objectives[0].timeSliceWindow: only with budgetingMethod: Timeslices"),
    (("  objectives:", "  alertPolicies:\n    - alertPolicyRef: burn\n  objectives:"), (28, 7),
     "spec.alertPolicies[0]: OpenSLO alerting cannot be mapped"),
    (("counter: true", "counter: false"), (12, 11),
     "spec.ratioMetric.good.metricSource.spec.query: is not marked as a counter (counter: true)"),
    (("query: nv_inference_request_success{model=\"m\"}", "query: rate(nv_inference_request_success[5m])"), (12, 11),
     "spec.ratioMetric.good.metricSource.spec.query: is not a selector or a sum of one"),
    (("query: nv_inference_request_success{model=\"m\"}", "query: nv_inference_request_success{"), (12, 11),
     "spec.ratioMetric.good.metricSource.spec.query: PromQL does not parse"),
    (("        type: Prometheus\n        spec:\n          query: nv_inference_request_success",
      "        type: Datadog\n        spec:\n          query: nv_inference_request_success"), (10, 9),
     "spec.ratioMetric.good.metricSource.type: 'Datadog' cannot be mapped: triton-slo reads Prometheus metric sources"),
    (("  ratioMetric:\n    counter: true\n", "  ratioMetric:\n    counter: true\n    rawType: success\n"), (9, 5),
     "spec.ratioMetric.good: not with raw (a precomputed ratio stands alone)"),
    (("  ratioMetric:\n    counter: true\n", "  ratioMetric:\n    counter: true\n    rawType: success\n"), (6, 3),
     "spec.ratioMetric.raw: required"),
    (("metadata:\n  name: avail\n", "metadata:\n  name: avail\n  labels:\n    app.kubernetes.io/name: x\n"), (23, 3),
     "metadata.labels: 'app.kubernetes.io/name': labels become Prometheus labels"),
    (("kind: SLO", "kind: Slo"), (20, 1), "kind: 'Slo' is not an OpenSLO v1 kind (SLO, SLI, Service, DataSource); "
                                          "did you mean 'SLO'?"),
    (("apiVersion: openslo/v1\nkind: SLO", "apiVersion: openslo/v1alpha\nkind: SLO"), (19, 1),
     "apiVersion: 'openslo/v1alpha' is not supported; OpenSLO documents are read as 'openslo/v1'"),
    (("  service: svc\n", ""), (23, 1), "spec.service: required (or a Service document in the file)"),
])
def test_openslo_problems(tmp_path: Path, change: tuple[str, str], where: tuple[int, int], expected: str) -> None:
    assert change[0] in OPENSLO
    found = problems(tmp_path, OPENSLO.replace(*change))
    assert any((line, col) == where and message.startswith(expected) for line, col, message in found), \
        messages(found)


THRESHOLD = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: queue
spec:
  service: svc
  indicator:
    metadata:
      name: queue
    spec:
      thresholdMetric:
        metricSource:
          metricSourceRef: prom
          spec:
            query: max(nv_inference_queue_duration_us)
  budgetingMethod: Timeslices
  timeWindow:
    - duration: 1w
      isRolling: true
  objectives:
    - op: lte
      value: 1000
      targetPercent: 99
      timeSliceTarget: 1
      timeSliceWindow: 5
---
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: prom
spec:
  type: Prometheus
"""


def test_openslo_threshold_metric_is_a_timeslice_sli(tmp_path: Path) -> None:
    (slo,) = load_spec(write(tmp_path, THRESHOLD)).slos
    assert slo.sli == TimesliceSLI(query="max(nv_inference_queue_duration_us)", op="<=", threshold=1000.0,
                                   slice_seconds=300)
    assert slo.window == Window(7 * 86400, "7d") and slo.objective == Decimal("99")


@pytest.mark.parametrize("change, where, expected", [
    (("timeSliceTarget: 1", "timeSliceTarget: 0.95"), (24, 7),
     "spec.objectives[0].timeSliceTarget: 0.95 cannot be mapped: a slice is good when every sample in it is"),
    (("budgetingMethod: Timeslices", "budgetingMethod: Occurrences"), (16, 3),
     "spec.budgetingMethod: a thresholdMetric is judged in time slices; use Timeslices"),
    (("      value: 1000\n", ""), (21, 7), "spec.objectives[0].value: required"),
    (("max(nv_inference_queue_duration_us)", "max(rate(x[{{.window}}]))"), (15, 13),
     "spec.indicator.spec.thresholdMetric.metricSource.spec.query: a threshold metric is read as it is"),
    (("duration: 1w", "duration: 1M"), (18, 7),
     "spec.timeWindow[0].duration: a rolling window in months, quarters or years has no fixed length"),
    (("duration: 1w", "duration: 30m"), (18, 7),
     "spec.timeWindow[0].duration: shorter than the 1h minimum"),
    (("duration: 1w", "duration: 1 week"), (18, 7), "spec.timeWindow[0].duration: '1 week' is not a duration"),
    (("      isRolling: true\n", "      isRolling: false\n"), (19, 7),
     "spec.timeWindow[0].isRolling: false needs a calendar"),
    (("type: Prometheus", "type: Datadog"), (13, 11),
     "spec.indicator.spec.thresholdMetric.metricSource.type: 'Datadog' cannot be mapped"),
    (("metricSourceRef: prom", "metricSourceRef: promx"), (13, 11),
     "spec.indicator.spec.thresholdMetric.metricSource.type: required (Prometheus), or a metricSourceRef to a "
     "DataSource in this file; 'promx' is not one"),
    (("kind: DataSource", "kind: AlertPolicy"), (28, 1), "kind: AlertPolicy: OpenSLO alerting cannot be mapped"),
])
def test_openslo_threshold_problems(tmp_path: Path, change: tuple[str, str], where: tuple[int, int],
                                    expected: str) -> None:
    assert change[0] in THRESHOLD
    found = problems(tmp_path, THRESHOLD.replace(*change))
    assert any((line, col) == where and message.startswith(expected) for line, col, message in found), \
        messages(found)


CALENDAR = THRESHOLD.replace("""\
    - duration: 1w
      isRolling: true
""", """\
    - duration: 1M
      calendar:
        startTime: 2024-01-01 00:00:00
        timeZone: UTC
""")


def test_openslo_calendar_month(tmp_path: Path) -> None:
    (slo,) = load_spec(write(tmp_path, CALENDAR)).slos
    assert slo.window.calendar and slo.window.text == "month"


@pytest.mark.parametrize("change, where, expected", [
    (("timeZone: UTC", "timeZone: Europe/Berlin"), (21, 9),
     "spec.timeWindow[0].calendar.timeZone: 'Europe/Berlin' cannot be mapped: calendar months are counted in UTC"),
    (("startTime: 2024-01-01 00:00:00", "startTime: 2024-01-21 12:30:00"), (20, 9),
     "spec.timeWindow[0].calendar.startTime: cannot be mapped: calendar months start on the 1st at 00:00:00"),
    (("startTime: 2024-01-01 00:00:00", "startTime: soon"), (20, 9),
     "spec.timeWindow[0].calendar.startTime: 'soon' is not a date and time"),
    (("duration: 1M", "duration: 1Q"), (18, 7),
     "spec.timeWindow[0].duration: a calendar window of 1Q cannot be mapped; only 1M"),
    (("        timeZone: UTC\n", "        timeZone: UTC\n      isRolling: true\n"), (22, 7),
     "spec.timeWindow[0].isRolling: a calendar window is not rolling"),
])
def test_openslo_calendar_problems(tmp_path: Path, change: tuple[str, str], where: tuple[int, int],
                                   expected: str) -> None:
    assert change[0] in CALENDAR
    found = problems(tmp_path, CALENDAR.replace(*change))
    assert any((line, col) == where and message.startswith(expected) for line, col, message in found), \
        messages(found)


def test_openslo_one_service_per_file_and_unique_names(tmp_path: Path) -> None:
    service = "---\napiVersion: openslo/v1\nkind: Service\nmetadata:\n  name: {}\nspec: {{}}\n"
    text = (OPENSLO.replace("    - target: 0.995", "    - target: 0.995\n    - target: 0.99")
            + "---\n" + OPENSLO.split("---\n")[1].replace("name: avail", "name: avail-1")
            + service.format("other") + service.format("third"))
    found = problems(tmp_path, text)
    text = messages(found)
    assert "spec.service: 'svc' is not the Service 'other' of this file" in text
    assert "metadata.name: a second Service ('third'); a file holds one service ('other')" in text
    assert "SLO name 'avail-1' (from objectives) clashes with another SLO" in text


def test_openslo_file_without_slo(tmp_path: Path) -> None:
    found = problems(tmp_path, OPENSLO.split("---\n")[0])
    assert found == [(1, 1, "no SLO document (kind: SLO) in this OpenSLO file")]


def test_openslo_every_document_must_be_a_mapping_with_metadata_and_spec(tmp_path: Path) -> None:
    found = problems(tmp_path, OPENSLO + "---\n- just a list\n---\napiVersion: openslo/v1\nkind: SLI\n")
    text = messages(found)
    assert "30:1: the document must be a mapping, not a list" in text
    assert "metadata: required" in text and "spec: required" in text


RAW = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: probes
spec:
  service: svc
  indicator:
    metadata:
      name: probes
    spec:
      ratioMetric:
        rawType: {raw_type}
        raw:
          metricSource:
            type: Prometheus
            spec:
              query: {query}
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
"""
RAW_QUERY = "sum(rate(probe_ok[{{.window}}])) / sum(rate(probe_all[{{.window}}]))"


@pytest.mark.parametrize("raw_type, error_ratio", [
    ("failure", RAW_QUERY),
    ("success", f"1 - ({RAW_QUERY})"),
])
def test_openslo_raw_ratio_is_a_precomputed_error_ratio(tmp_path: Path, raw_type: str, error_ratio: str) -> None:
    (slo,) = load_spec(write(tmp_path, RAW.format(raw_type=raw_type, query=f"'{RAW_QUERY}'"))).slos
    assert slo.sli == RatioSLI(error_ratio=error_ratio)


@pytest.mark.parametrize("raw_type, query, where, expected", [
    ("failed", f"'{RAW_QUERY}'", (12, 9),
     "spec.indicator.spec.ratioMetric.rawType: 'failed' is not one of success, failure"),
    ("failure", "sum(probe_ok) / sum(probe_all)", (17, 15),
     "spec.indicator.spec.ratioMetric.raw.metricSource.spec.query: a raw ratio needs a {{.window}} range"),
])
def test_openslo_raw_ratio_problems(tmp_path: Path, raw_type: str, query: str, where: tuple[int, int],
                                    expected: str) -> None:
    found = problems(tmp_path, RAW.format(raw_type=raw_type, query=query))
    assert any((line, col) == where and message.startswith(expected) for line, col, message in found), \
        messages(found)
