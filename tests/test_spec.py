"""`triton-slo validate` on triton-slo specs: every kind of problem, where it is reported, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from triton_slo.cli import main
from triton_slo.model import AccuracySLI, AvailabilitySLI, LatencySLI, RatioSLI, TimesliceSLI
from triton_slo.readers import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PROBLEM_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")

HEAD = """\
version: triton-slo/v1
service:
  name: svc
  models: [resnet]
slos:
"""  # the first SLO item starts on line 6


def spec_file(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    """(line, col, message) of each problem; the spec must be invalid."""
    path = spec_file(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    result = []
    for line in str(caught.value).splitlines():
        match = PROBLEM_LINE.match(line)
        assert match, f"not FILE:LINE:COL: message: {line!r}"
        assert match["file"] == str(path)
        result.append((int(match["line"]), int(match["col"]), match["message"]))
    assert [(p.mark.line, p.mark.col, p.message) for p in caught.value.problems] == result
    return result


def only_problem(tmp_path: Path, text: str) -> tuple[int, int, str]:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def slo_spec(body: str) -> str:
    """HEAD plus one SLO whose lines follow from line 6."""
    return HEAD + textwrap.indent(textwrap.dedent(body), "  ")


# --- valid files --------------------------------------------------------------------------------

def test_examples_validate_with_one_line_per_slo(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".yml"))
    assert len(files) >= 3
    assert main(["validate", *files]) == 0
    out = capsys.readouterr().out.splitlines()
    expected = sum(len(load_spec(f).slos) for f in files)
    assert len(out) == expected
    for file in files:
        spec = load_spec(file)
        lines = [line for line in out if line.startswith(f"{file}: ")]
        assert [line.split(": ", 2)[1].split("/")[1] for line in lines] == [s.name for s in spec.slos]


def test_summary_line_says_kind_objective_window_and_models(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = spec_file(tmp_path, slo_spec("""\
        - name: avail
          objective: 99.95
          window: 28d
          sli: {availability: {}}
        """))
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: svc/avail: availability, objective 99.95% over 28d for resnet\n"


def test_every_sli_kind_maps_onto_the_model(tmp_path: Path) -> None:
    spec = load_spec(spec_file(tmp_path, slo_spec("""\
        - name: avail
          objective: 99.9
          sli: {availability: {exclude_reasons: [CANCELED]}}
        - name: p99
          objective: 99
          sli: {latency: {threshold: 50ms, quantile: 0.99, slice: 2m}}
        - name: hist
          objective: 99
          sli: {latency: {threshold: 250us, metric: my_latency_ms}}
        - name: ratio-good
          objective: 99
          sli: {ratio: {good: 'sum(rate(ok[{{.window}}]))', total: 'sum(rate(all[{{ .window }}]))'}}
        - name: ratio-bad
          objective: 99
          sli: {ratio: {bad: 'sum(rate(err[{{.window}}]))', total: 'sum(rate(all[{{.window}}]))'}}
        - name: gauge
          objective: 99
          window: month
          sli: {timeslice: {query: 'max(x)', op: '<', threshold: 3, slice: 5m}}
        - name: golden
          objective: 95
          window: 7d
          sli: {accuracy: {}}
        """)))
    slis = {slo.name: slo.sli for slo in spec.slos}
    assert slis["avail"] == AvailabilitySLI(exclude_reasons=("CANCELED",))
    assert slis["p99"] == LatencySLI(threshold_seconds=0.05, source="summary", metric_unit="us", quantile=0.99,
                                     slice_seconds=120)
    assert slis["hist"] == LatencySLI(threshold_seconds=0.00025, source="histogram", metric="my_latency_ms",
                                      metric_unit="ms")
    assert slis["ratio-good"] == RatioSLI(total="sum(rate(all[{{ .window }}]))", good="sum(rate(ok[{{.window}}]))")
    assert slis["ratio-bad"] == RatioSLI(total="sum(rate(all[{{.window}}]))", bad="sum(rate(err[{{.window}}]))")
    assert slis["gauge"] == TimesliceSLI(query="max(x)", op="<", threshold=3.0, slice_seconds=300)
    assert slis["golden"] == AccuracySLI()
    by_name = {slo.name: slo for slo in spec.slos}
    assert by_name["avail"].objective == Decimal("99.9") and by_name["avail"].window.text == "30d"
    assert by_name["gauge"].window.calendar and by_name["golden"].window.seconds == 7 * 86400


# --- syntax and structure -----------------------------------------------------------------------

def test_yaml_syntax_error_points_at_the_problem(tmp_path: Path) -> None:
    line, col, message = only_problem(tmp_path, HEAD + "  - name: a\n    objective: [99\n    window: 30d\n")
    assert message.startswith("YAML syntax:")
    assert line in (7, 8)


def test_tab_indentation_is_a_syntax_error(tmp_path: Path) -> None:
    line, _, message = only_problem(tmp_path, "version: triton-slo/v1\nservice:\n\tname: svc\n")
    assert line == 3 and "YAML syntax" in message


def test_empty_file_and_wrong_top_level_type(tmp_path: Path) -> None:
    assert only_problem(tmp_path, "# nothing\n") == (1, 1, "empty file: expected a spec")
    line, col, message = only_problem(tmp_path, "- a\n- b\n")
    assert (line, col) == (1, 1) and "must be a mapping, not a list" in message


def test_wrong_or_missing_version(tmp_path: Path) -> None:
    line, col, message = only_problem(tmp_path, HEAD.replace("triton-slo/v1", "triton-slo/v2") +
                                      "  - {name: a, objective: 99, sli: {accuracy: {}}}\n")
    assert (line, col) == (1, 1) and "'triton-slo/v2' is not supported" in message
    _, _, message = only_problem(tmp_path, HEAD.replace("version: triton-slo/v1\n", "") +
                                 "  - {name: a, objective: 99, sli: {accuracy: {}}}\n")
    assert message.startswith("version: required")


def test_unknown_keys_get_a_did_you_mean(tmp_path: Path) -> None:
    found = problems(tmp_path, slo_spec("""\
        - name: a
          objectiv: 99
          sli:
            availabilty: {}
        """) + "alertng: {}\n")
    assert (7, 5) in [(line, col) for line, col, _ in found]
    messages = {(line, col): message for line, col, message in found}
    assert "unknown key 'objectiv'; did you mean 'objective'?" in messages[(7, 5)]
    assert "unknown key 'availabilty'; did you mean 'availability'?" in messages[(9, 7)]
    assert "unknown key 'alertng'; did you mean 'alerting'?" in messages[(10, 1)]
    assert any("objective: required" in m for m in messages.values())


def test_unknown_key_without_a_close_match_lists_the_known_ones(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD.replace("  models: [resnet]\n", "  models: [resnet]\n  zzz: 1\n") +
                     "  - {name: a, objective: 99, sli: {accuracy: {}}}\n")
    assert found == [(5, 3, "service.zzz: unknown key 'zzz' (known: dashboard_base_url, dcgm, description, "
                            "exporter, labels, models, name, owner, runbook_base_url, team, triton)")]


def test_wrong_types_are_reported_at_their_key(tmp_path: Path) -> None:
    found = problems(tmp_path, slo_spec("""\
        - name: [a]
          objective: 99
          description: 5
          labels: {team: 1}
          sli: {accuracy: {}}
          alerting: {page: "yes"}
        """))
    assert [(line, col) for line, col, _ in found] == [(6, 5), (8, 5), (9, 5), (11, 16)]
    assert "must be a string, not a list" in found[0][2]
    assert "must be a string, not a number" in found[1][2]
    assert 'label values must be strings (quote it: "1")' in found[2][2]
    assert "must be true or false, not a string" in found[3][2]


# --- ranges -------------------------------------------------------------------------------------

@pytest.mark.parametrize("objective, reason", [
    ("100", "strictly between 0 and 100"),
    ("0", "strictly between 0 and 100"),
    ("-1", "strictly between 0 and 100"),
    ("150", "strictly between 0 and 100"),
    ("abc", "not a percentage"),
    (".nan", "not a percentage"),
    ("true", "must be a percentage"),
])
def test_objective_strictly_between_0_and_100(tmp_path: Path, objective: str, reason: str) -> None:
    line, col, message = only_problem(tmp_path, slo_spec(f"""\
        - name: a
          objective: {objective}
          sli: {{accuracy: {{}}}}
        """))
    assert (line, col) == (7, 5) and message.startswith("slos[0].objective: ") and reason in message


def test_objective_keeps_the_written_digits(tmp_path: Path) -> None:
    spec = load_spec(spec_file(tmp_path, slo_spec("""\
        - {name: a, objective: 99.990, sli: {accuracy: {}}}
        - {name: b, objective: "99.5%", sli: {accuracy: {}}}
        """)))
    assert [str(s.objective) for s in spec.slos] == ["99.990", "99.5"]


@pytest.mark.parametrize("window, reason", [
    ("30x", "is not a duration"),
    ("30m", "shorter than the 1h minimum"),
    ("30", "must be a duration like 5m or 30d, not the number 30"),
    ("1d500ms", "whole number of seconds"),
])
def test_windows_must_parse(tmp_path: Path, window: str, reason: str) -> None:
    line, col, message = only_problem(tmp_path, slo_spec(f"""\
        - name: a
          objective: 99
          window: {window}
          sli: {{accuracy: {{}}}}
        """))
    assert (line, col) == (8, 5) and message.startswith("slos[0].window: ") and reason in message


@pytest.mark.parametrize("threshold", ["0ms", "0", "-5ms", "fast", "true"])
def test_latency_thresholds_must_be_positive(tmp_path: Path, threshold: str) -> None:
    line, col, message = only_problem(tmp_path, slo_spec(f"""\
        - name: a
          objective: 99
          sli:
            latency:
              threshold: {threshold}
        """))
    assert (line, col) == (10, 9) and message.startswith("slos[0].sli.latency.threshold: ")


def test_latency_fields_that_do_not_fit_the_source(tmp_path: Path) -> None:
    found = problems(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          sli:
            latency: {threshold: 50ms, source: summary, metric: foo_seconds, quantile: 1.5}
        - name: b
          objective: 99
          sli:
            latency: {threshold: 50ms, source: histogram, slice: 1m, metric: foo_total}
        """))
    messages = " | ".join(m for _, _, m in found)
    assert "metric: only for source: histogram" in messages
    assert "quantile: 1.5 is outside (0, 1)" in messages
    assert "slice: only for source: summary" in messages
    assert "unit: required: the name 'foo_total' does not say s, ms or us" in messages


# --- duplicates ---------------------------------------------------------------------------------

def test_duplicate_yaml_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          objective: 98
          sli: {accuracy: {}}
          sli: {accuracy: {}}
        """))
    assert found == [(8, 5, "duplicate key 'objective'"), (10, 5, "duplicate key 'sli'")]


def test_duplicate_slo_names(tmp_path: Path) -> None:
    found = problems(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          sli: {accuracy: {}}
        - name: a
          objective: 99
          sli: {accuracy: {}}
        """))
    assert found == [(9, 5, "slos[1].name: SLO name 'a' is used twice")]


def test_duplicate_models_receivers_tiers_and_mute_intervals(tmp_path: Path) -> None:
    found = problems(tmp_path, """\
        version: triton-slo/v1
        service:
          name: svc
          models: [resnet, resnet]
        slos:
          - name: a
            objective: 99
            sli: {accuracy: {}}
            alerting:
              tiers:
                - {name: t, severity: critical, factor: 14.4, long: 1h, short: 5m}
                - {name: t, severity: warning, factor: 6, long: 6h, short: 30m}
        alerting:
          receivers:
            - {name: r, type: webhook, url: "http://127.0.0.1:9/"}
            - {name: r, type: webhook, url: "http://127.0.0.1:9/"}
          mute_intervals:
            - {name: m, times: [{weekdays: [sunday]}]}
            - {name: m, times: [{weekdays: [monday]}]}
        """)
    messages = {m for _, _, m in found}
    assert "service.models[1]: model 'resnet' is listed twice" in messages
    assert "slos[0].alerting.tiers[1].name: tier 't' is used twice" in messages
    assert "alerting.receivers[1].name: receiver 'r' is defined twice" in messages
    assert "alerting.mute_intervals[1].name: mute interval 'm' is defined twice" in messages
    assert (4, 20) in [(line, col) for line, col, _ in found]  # the second resnet


# --- PromQL -------------------------------------------------------------------------------------

def test_promql_that_does_not_parse(tmp_path: Path) -> None:
    found = problems(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          sli:
            ratio:
              bad: 'sum(rate(errors[{{.window}}])'
              total: 'sum(rate(all[{{.window}}]))'
        - name: b
          objective: 99
          sli:
            timeslice: {query: 'max(x) >', op: '<', threshold: 1}
        """))
    assert [(line, col) for line, col, _ in found] == [(10, 9), (15, 19)]
    assert all("PromQL does not parse" in m for _, _, m in found)
    assert found[0][2].startswith("slos[0].sli.ratio.bad: ")
    assert found[1][2].startswith("slos[1].sli.timeslice.query: ")


def test_ratio_queries_need_the_window_and_one_numerator(tmp_path: Path) -> None:
    found = problems(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          sli:
            ratio:
              good: 'sum(rate(ok[5m]))'
              total: 'sum(rate(all[{{.window}}]))'
        - name: b
          objective: 99
          sli:
            ratio:
              total: 'sum(rate(all[{{.window}}]))'
        """))
    assert (10, 9) == found[0][:2] and "needs a {{.window}} range" in found[0][2]
    assert found[1][:2] == (15, 7) and "slos[1].sli.ratio: give exactly one of good or bad" in found[1][2]


def test_precomputed_error_ratio_stands_alone_and_has_no_min_events(tmp_path: Path) -> None:
    spec = load_spec(spec_file(tmp_path, slo_spec("""\
        - name: raw
          objective: 99
          sli:
            ratio:
              error_ratio: 'sum(rate(err[{{.window}}])) / sum(rate(all[{{.window}}]))'
        """)))
    assert spec.slos[0].sli == RatioSLI(error_ratio="sum(rate(err[{{.window}}])) / sum(rate(all[{{.window}}]))")
    found = problems(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          sli:
            ratio:
              error_ratio: 'sum(rate(err[{{.window}}])) / sum(rate(all[{{.window}}]))'
              total: 'sum(rate(all[{{.window}}]))'
        - name: b
          objective: 99
          sli:
            ratio:
              error_ratio: 'avg(err_ratio)'
        - name: c
          objective: 99
          sli:
            ratio:
              error_ratio: 'sum(rate(err[{{.window}}])) / sum(rate(all[{{.window}}]))'
          alerting:
            min_events: 10
        """))
    assert found == [
        (11, 9, "slos[0].sli.ratio.total: not with error_ratio (a precomputed error ratio stands alone; or give "
                "good/bad with total instead)"),
        (16, 9, "slos[1].sli.ratio.error_ratio: needs a {{.window}} range (e.g. rate(x[{{.window}}])) so each "
                "alert window can be computed"),
        (23, 7, "slos[2].alerting.min_events: a precomputed error_ratio has no event count to check; give "
                "good/bad and total to use min_events"),
    ]


def test_page_and_ticket_labels_and_annotations(tmp_path: Path) -> None:
    spec = load_spec(spec_file(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          sli: {accuracy: {}}
          alerting:
            labels: {team: ml}
            page_labels: {severity: pageteam, routing_key: ml}
            ticket_labels: {slack_channel: "#ml"}
            page_annotations: {title: paged}
            ticket_annotations: {title: ticketed}
        """)))
    alerting = spec.slos[0].alerting
    assert alerting.tier_labels("critical") == {"team": "ml", "severity": "pageteam", "routing_key": "ml"}
    assert alerting.tier_labels("warning") == {"team": "ml", "slack_channel": "#ml"}
    assert alerting.tier_annotations("critical") == {"title": "paged"}
    assert alerting.tier_annotations("warning") == {"title": "ticketed"}
    found = problems(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          sli: {accuracy: {}}
          alerting:
            page_labels: {bad-name: x}
            ticket_annotations: {title: [x]}
            page_label: {}
        """))
    assert found == [
        (10, 7, "slos[0].alerting.page_labels: 'bad-name' is not a Prometheus label name"),
        (11, 7, "slos[0].alerting.ticket_annotations: must be a mapping of names to strings"),
        (12, 7, "slos[0].alerting.page_label: unknown key 'page_label'; did you mean 'page_labels'?"),
    ]


# --- SLI choice ---------------------------------------------------------------------------------

def test_exactly_one_sli_kind(tmp_path: Path) -> None:
    found = problems(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          sli: {availability: {}, accuracy: {}}
        - name: b
          objective: 99
          sli: {}
        - name: c
          objective: 99
        """))
    messages = [m for _, _, m in found]
    assert any("exactly one of availability, latency, ratio, timeslice, accuracy is needed; found availability, "
               "accuracy" in m for m in messages)
    assert any("slos[1].sli: exactly one of" in m and "found none" in m for m in messages)
    assert any(m == "slos[2].sli: required" for m in messages)


def test_availability_reasons_are_triton_s(tmp_path: Path) -> None:
    line, col, message = only_problem(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          sli:
            availability:
              exclude_reasons: [CANCELED, TIMEOUT]
        """))
    assert (line, col) == (10, 37)
    assert "'TIMEOUT' is not a Triton failure reason (REJECTED, CANCELED, BACKEND, OTHER)" in message


def test_slo_models_must_be_the_service_s(tmp_path: Path) -> None:
    line, col, message = only_problem(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          models: [resnet, vgg]
          sli: {availability: {}}
        """))
    assert (line, col) == (8, 22) and "model 'vgg' is not one of the service's models (resnet)" in message


# --- alerting: tiers, receivers, mute intervals, thresholds -------------------------------------

def test_tiers(tmp_path: Path) -> None:
    found = problems(tmp_path, slo_spec("""\
        - name: a
          objective: 99
          window: 7d
          sli: {accuracy: {}}
          alerting:
            tiers:
              - {name: fast, severity: page, factor: -1, long: 1h, short: 5m}
              - {name: slow, severity: warning, factor: 1, long: 8d, short: 8d}
        """))
    messages = {(line, m) for line, _, m in found}
    assert (12, "slos[0].alerting.tiers[0].severity: 'page' is not one of critical, warning") in messages
    assert (12, "slos[0].alerting.tiers[0].factor: must be greater than zero") in messages
    assert (13, "slos[0].alerting.tiers[1].short: must be shorter than long (8d)") in messages
    assert (13, "slos[0].alerting.tiers[1].long: longer than the SLO window (7d)") in messages
    assert len(found) == 4


def test_receivers(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + "  - {name: a, objective: 99, sli: {accuracy: {}}}\n" + textwrap.dedent("""\
        alerting:
          receivers:
            - {name: pager, type: pagerduty}
            - {name: chat, type: slack, url: "https://hooks.example.com/x"}
            - {name: mail, type: emial, to: a@example.com}
          page_receiver: pagr
        """))
    messages = {(line, col, m) for line, col, m in found}
    assert (9, 7, "alerting.receivers[0]: a pagerduty receiver needs routing_key_file") in messages
    assert any(line == 10 and "alerting.receivers[1].url: not used by a slack receiver (secrets are read from files"
               in m for line, _, m in messages)
    assert any(line == 11 and "'emial' is not one of webhook, pagerduty, slack, email; did you mean 'email'?" in m
               for line, _, m in messages)
    assert (12, 3, "alerting.page_receiver: 'pagr' is not a receiver defined under receivers") in messages


def test_mute_intervals(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + "  - {name: a, objective: 99, sli: {accuracy: {}}}\n" + textwrap.dedent("""\
        alerting:
          mute_intervals:
            - name: retrain
              times:
                - weekdays: [sundy]
                  times: [{start_time: "04:00", end_time: "02:00"}]
                - months: [13]
                - {}
            - name: clock
              times: [{times: [{start_time: "25:00", end_time: "26:00"}]}]
            - name: none
        """))
    messages = {(line, m) for line, _, m in found}
    assert (11, "alerting.mute_intervals[0].times[0].weekdays[0]: 'sundy' is not a weekday or range like "
                "monday:friday") in messages
    assert (12, "alerting.mute_intervals[0].times[0].times[0]: start_time must be before end_time") in messages
    assert (13, "alerting.mute_intervals[0].times[1].months[0]: 13 is not a value or range within 1..12") in messages
    assert (14, "alerting.mute_intervals[0].times[2]: empty time interval (it would match all the time)") in messages
    assert any(line == 16 and "'25:00' is not a time like 02:00" in m for line, m in messages)
    assert any(line == 16 and "'26:00' is not a time like 02:00" in m for line, m in messages)
    assert (17, "alerting.mute_intervals[2].times: required") in messages
    assert len(found) == 7


def test_thresholds(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + "  - {name: a, objective: 99, sli: {accuracy: {}}}\n" + textwrap.dedent("""\
        alerting:
          thresholds:
            p99_warning: 300ms
            p99_critical: 200ms
            memory_headroom_warning: 1.5
            throttle_for: soon
            p99_warnng: 1ms
        """))
    messages = {(line, m) for line, _, m in found}
    assert (10, "alerting.thresholds.p99_critical: must be above p99_warning") in messages
    assert (11, "alerting.thresholds.memory_headroom_warning: 1.5 is outside (0, 1)") in messages
    assert any(line == 12 and "throttle_for: 'soon' is not a duration" in m for line, m in messages)
    assert any(line == 13 and "did you mean 'p99_warning'?" in m for line, m in messages)


# --- canary -------------------------------------------------------------------------------------

def test_canary(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + "  - {name: a, objective: 99, sli: {accuracy: {}}}\n" + textwrap.dedent("""\
        canary:
          label: model-name
          baseline: v1
          canary: v1
          weight: 150
          metrics:
            - error_ratio
            - {name: error_ratio, direction: up, margin: "-5%"}
        """))
    messages = {(line, m) for line, _, m in found}
    assert (8, "canary.label: 'model-name' is not a Prometheus label name") in messages
    assert (10, "canary.canary: the same as baseline") in messages
    assert (11, "canary.weight: 150 is outside [0, 100)") in messages
    assert any(line == 14 and "direction: 'up' is not one of increase, decrease" in m for line, m in messages)
    assert any(line == 14 and "margin: '-5%' is not a number or a percentage" in m for line, m in messages)


def test_canary_needs_baseline_and_canary(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + "  - {name: a, objective: 99, sli: {accuracy: {}}}\ncanary: {label: version}\n")
    assert {m for _, _, m in found} == {"canary.baseline: required", "canary.canary: required"}
    assert {(line, col) for line, col, _ in found} == {(7, 1)}  # the canary key


# --- reporting: all problems at once, CLI exit codes, JSON, subprocess --------------------------

def test_every_problem_is_reported_sorted_by_position(tmp_path: Path) -> None:
    found = problems(tmp_path, slo_spec("""\
        - name: Bad Name
          objective: 100
          window: 1m
          sli: {latency: {threshold: 0ms}}
        """))
    assert [(line, col) for line, col, _ in found] == sorted((line, col) for line, col, _ in found)
    assert [line for line, _, _ in found] == [6, 7, 8, 9]


def test_cli_exits_2_with_file_line_col_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = EXAMPLES / "resnet-classifier.yaml"
    bad = spec_file(tmp_path, good.read_text().replace("objective: 99.9", "objective: 199.9", 1))
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "objective: 199.9" in text)
    assert main(["validate", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"{bad}:{line}:5: slos[0].objective: 199.9 must be strictly between 0 and 100 "
                            "(a percentage)\n")
    assert captured.out.startswith(f"{good}: resnet-classifier/availability: ")


def test_cli_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = spec_file(tmp_path, slo_spec("- {name: a, objective: 0, sli: {accuracy: {}}}\n"))
    assert main(["validate", "--format", "json", str(EXAMPLES / "sloth-triton.yaml"), str(bad)]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    good, broken = report["files"]
    assert good["valid"] and good["format"] == "sloth" and len(good["slos"]) == 4
    assert broken["problems"] == [{"line": 6, "column": 15, "message": "slos[0].objective: 0 must be strictly between "
                                                                     "0 and 100 (a percentage)"}]


def test_cli_missing_and_binary_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    binary = tmp_path / "junk.yaml"
    binary.write_bytes(b"version: \xff\xfe\x00 triton")
    assert main(["validate", str(missing), str(binary)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{missing}:1:1: cannot read: ")
    assert err[1] == f"{binary}:1:1: not UTF-8 text (byte 9)"


def test_cli_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["validate"])
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_python_m_slo_validate_on_a_broken_copy(tmp_path: Path) -> None:
    text = (EXAMPLES / "resnet-classifier.yaml").read_text()
    broken = text.replace("window: 28d", "window: 28 days").replace("threshold: 0.1", "threshold: [0.1]")
    bad = tmp_path / "broken.yaml"
    bad.write_text(broken)
    result = subprocess.run([sys.executable, "-m", "triton_slo", "validate", str(bad)], capture_output=True, text=True,
                            timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and "Traceback" not in result.stderr
    window_line = broken.splitlines().index("    window: 28 days") + 1
    assert lines[0] == f"{bad}:{window_line}:5: slos[1].window: '28 days' is not a duration like 30s, 5m, 1h30m, 28d"
    assert re.match(rf"^{re.escape(str(bad))}:\d+:9: slos\[4\]\.sli\.timeslice\.threshold: must be a number, "
                    r"not a list$", lines[1])


def test_backward_weekday_range_is_refused_as_alertmanager_would(tmp_path: Path) -> None:
    text = HEAD + """  - name: a
    objective: 99
    sli: {availability: {}}
alerting:
  mute_intervals:
    - name: retraining
      times:
        - weekdays: [monday:sunday, saturday:saturday, sunday:monday]
"""
    line, col, message = only_problem(tmp_path, text)
    assert line == 13 and "'monday:sunday' runs backwards" in message


def test_sloth_kubernetes_object_gets_a_hint(tmp_path: Path) -> None:
    text = "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nspec: {}\n"
    line, col, message = only_problem(tmp_path, text)
    assert (line, col) == (1, 1)
    assert "prometheus/v1" in message
