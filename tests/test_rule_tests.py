"""Generated promtool tests of custom (ratio, timeslice) SLIs, the PromQL reference model, and speed of the output.

promtool is the judge: the generated tests must pass against the generated rules, and fail
against a broken rule. The PromQL-subset reference model is checked against promtool's own
PromQL engine on the same inputs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import numpy as np
import promql_parser
import pytest
import yaml
from triton_slo import background, rules, ruletests
from triton_slo.artifacts import Options
from triton_slo.model import SLO, ModelRef, RatioSLI, Service, SLOAlerting, Spec, TimesliceSLI, Window
from triton_slo.output import files
from triton_slo.output.writers import yaml_text
from triton_slo.rulefiles import build_rule_files
from triton_slo.ruletests import cover, evaluator, packing, regex
from triton_slo.ruletests.spectests import build_tests

ROOT = Path(__file__).resolve().parents[1]
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
DAY = 86400
W = "{{.window}}"


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=300)


def slo(name: str, sli, objective: str = "99", days: int = 30, **alerting) -> SLO:
    return SLO(name, Decimal(objective), Window(days * DAY, f"{days}d"), sli, alerting=SLOAlerting(**alerting))


def spec_of(*slos: SLO) -> Spec:
    return Spec(Service(name="gw", triton_selector={"job": "triton"}, models=(ModelRef("resnet"),)), slos)


# Realistic custom SLIs, as users write them (Sloth style {{.window}}).
GATEWAY_5XX = slo("gateway-5xx", RatioSLI(
    total=f'sum by (route) (rate(http_requests_total{{job="gateway"}}[{W}]))',
    bad=f'sum by (route) (rate(http_requests_total{{job="gateway", code=~"5.."}}[{W}]))'),
    objective="99.5", no_traffic_for=900)
LATENCY_BUCKETS = slo("gateway-fast", RatioSLI(
    total=f'sum(rate(http_request_duration_seconds_count{{job="gateway", method!="OPTIONS"}}[{W}]))',
    good=f'sum(rate(http_request_duration_seconds_bucket{{job="gateway", method!="OPTIONS", le="0.25"}}[{W}]))'),
    objective="99", days=7)
GRPC_ERRORS = slo("ranker-errors", RatioSLI(
    total=f'sum(increase(grpc_server_handled_total{{grpc_service="ranker.Ranker"}}[{W}]))',
    bad=f'sum(increase(grpc_server_handled_total{{grpc_service="ranker.Ranker", '
        f'grpc_code=~"Unavailable|Internal|DeadlineExceeded"}}[{W}]))'),
    objective="99.9", min_events=50)
HEADROOM = slo("gpu-headroom", TimesliceSLI("min by (gpu, UUID) (triton_slo_gpu_memory_headroom_ratio)", ">=", 0.1))
TEMPERATURE = slo("gpu-temperature", TimesliceSLI('max(DCGM_FI_DEV_GPU_TEMP{gpu=~"0|1"})', "<", 85,
                                                  slice_seconds=300), objective="95", days=28)
ERROR_SLICES = slo("gateway-error-slices", TimesliceSLI(
    'sum(rate(http_errors_total{job="gateway"}[5m])) / sum(rate(http_requests_seen_total{job="gateway"}[5m]))',
    "<=", 0.05), objective="99.5", days=7)
# Shapes Sloth users write: a name regex, bad as total minus good, a sum of counters, a raw ratio.
TRITON_FAILURES = slo("triton-failures", RatioSLI(
    total=f'sum(rate({{__name__=~"nv_inference_request_(success|failure)", job="triton"}}[{W}]))',
    bad=f'sum(rate(nv_inference_request_failure{{job="triton", reason!="CANCELED"}}[{W}]))'), objective="99.9")
SLOW_AS_DIFFERENCE = slo("probe-slow", RatioSLI(
    total=f'sum(rate(probe_seconds_count{{job="probe"}}[{W}]))',
    bad=f'sum(rate(probe_seconds_count{{job="probe"}}[{W}]))'
        f' - sum(rate(probe_seconds_bucket{{job="probe", le="0.05"}}[{W}]))'),
    objective="99")
TWO_FRONTENDS = slo("two-frontends", RatioSLI(
    total=f"sum(rate(web_requests_total[{W}])) + sum(rate(api_requests_total[{W}]))",
    bad=f"sum(rate(web_errors_total[{W}]))"), objective="99.5")
RAW_RATIO = slo("raw-ratio", RatioSLI(error_ratio=(
    f'sum by (route) (rate(http_requests_total{{job="edge", code=~"5.."}}[{W}]))\n/\n'
    f'sum by (route) (rate(http_requests_total{{job="edge"}}[{W}]))')), objective="99.5")
TRITON_GOOD = slo("triton-good", RatioSLI(
    total=f'sum by (model) (rate({{__name__=~"nv_inference_request_(success|failure)", job="triton"}}[{W}]))',
    good=f'sum by (model) (rate(nv_inference_request_success{{job="triton"}}[{W}]))'), objective="99")
SLOTH_SHAPES = (TRITON_FAILURES, SLOW_AS_DIFFERENCE, TWO_FRONTENDS, RAW_RATIO, TRITON_GOOD)
CUSTOM = (GATEWAY_5XX, LATENCY_BUCKETS, GRPC_ERRORS, HEADROOM, TEMPERATURE, ERROR_SLICES, *SLOTH_SHAPES)


def generate(tmp_path: Path, spec: Spec) -> tuple[Path, list[str]]:
    made = [rules.spec_rules(spec, 30)]
    result = ruletests.build(made, Options())
    files.write(build_rule_files(made).artifacts + result.artifacts, tmp_path)
    return tmp_path / "tests" / "gw-slo.yaml", result.notes


def _checked_slos(test: dict) -> set[str]:
    """The SLOs a generated test checks (named in its ALERTS queries)."""
    names = set()
    for check in test.get("promql_expr_test", []):
        match = re.search(r'slo=~?"([^"]*)"', check["expr"])
        names |= set(match.group(1).replace("\\\\", "").replace("\\", "").split("|"))
    return names


def test_every_realistic_custom_sli_gets_tests_for_each_scenario(tmp_path):
    test_file, notes = generate(tmp_path, spec_of(*CUSTOM))
    assert not [n for n in notes if "no generated test" in n], notes
    document = yaml.safe_load(test_file.read_text())
    for scenario in ("healthy", "slow burn", "fast burn"):
        checked = set().union(*(_checked_slos(t) for t in document["tests"] if t["name"].startswith(scenario + ":")))
        assert {c.name for c in CUSTOM} <= checked, (scenario, checked)


def _series_of(document: dict, metric: str) -> set[str]:
    return {s["series"] for t in document["tests"] for s in t["input_series"] if s["series"].startswith(metric + "{")}


def test_inputs_carry_the_labels_the_selectors_ask_for(tmp_path):
    test_file, _ = generate(tmp_path, spec_of(*CUSTOM))
    document = yaml.safe_load(test_file.read_text())
    gateway = _series_of(document, "http_requests_total")
    # a bad series (a 5xx code) and a good one per route; two routes: one burns, one stays healthy
    assert 'http_requests_total{job="gateway", code="500", route="0"}' in gateway
    assert 'http_requests_total{job="gateway", code="200", route="0"}' in gateway
    assert any('route="1"' in s for s in gateway)
    grpc = _series_of(document, "grpc_server_handled_total")
    assert any('grpc_code="Unavailable"' in s for s in grpc) and any('grpc_code="200"' in s for s in grpc)
    latency = _series_of(document, "http_request_duration_seconds_bucket")
    assert any('le="0.25"' in s for s in latency) and all("OPTIONS" not in s for s in latency)
    assert _series_of(document, "http_request_duration_seconds_count")
    headroom = _series_of(document, "triton_slo_gpu_memory_headroom_ratio")
    assert {'triton_slo_gpu_memory_headroom_ratio{gpu="0", UUID="0"}',
            'triton_slo_gpu_memory_headroom_ratio{gpu="1", UUID="1"}'} <= headroom
    assert any('gpu="0"' in s for s in _series_of(document, "DCGM_FI_DEV_GPU_TEMP"))


def _fired(spec: Spec, slo_name: str, scenario: str) -> set[tuple[str, str]]:
    timeline = build_tests(rules.spec_rules(spec, 30)).timelines[(slo_name, scenario)]
    return {(dict(f.labels).get("tier", ""), dict(f.labels).get("route", dict(f.labels).get("gpu", "")))
            for firing in timeline.values() for f in firing}


def test_fast_burn_pages_only_the_burning_group_and_healthy_fires_nothing():
    spec = spec_of(GATEWAY_5XX, HEADROOM)
    assert _fired(spec, "gateway-5xx", "healthy") == set()
    fast = _fired(spec, "gateway-5xx", "fast burn")
    assert ("page-fast", "0") in fast and not any(group == "1" for _, group in fast)
    slow = _fired(spec, "gateway-5xx", "slow burn")
    assert slow and all(tier.startswith("ticket") for tier, _ in slow)
    assert ("page-fast", "0") in _fired(spec, "gpu-headroom", "fast burn")


@needs_promtool
def test_generated_custom_tests_pass_promtool(tmp_path):
    test_file, _ = generate(tmp_path, spec_of(*CUSTOM))
    check = promtool("check", "rules", str(tmp_path / "rules" / "gw-slo.yaml"))
    assert check.returncode == 0, check.stdout + check.stderr
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


MUTATIONS = [
    # the gateway SLO loses its per-route grouping in the bad-event rule
    ('sum by (route) (rate(http_requests_total{job=\\"gateway\\", code=~\\"5..\\"}[5m]))',
     'sum(rate(http_requests_total{job=\\"gateway\\", code=~\\"5..\\"}[5m]))'),
    # the headroom slices are judged the wrong way round
    ("< bool 0.1", "> bool 0.5"),
    # the fast page of the gateway fires at 10x instead of 14.4x
    ("> 0.072", "> 0.05"),
    # the raw ratio's recorded 1h window drops the per-route grouping
    ('(sum by (route) (rate(http_requests_total{job="edge", code=~"5.."}[1h]))',
     '(sum(rate(http_requests_total{job="edge", code=~"5.."}[1h]))'),
]


@needs_promtool
@pytest.mark.parametrize("before, after", MUTATIONS)
def test_a_broken_rule_fails_the_generated_tests(tmp_path, before, after):
    spec = spec_of(GATEWAY_5XX, HEADROOM, RAW_RATIO)
    test_file, _ = generate(tmp_path, spec)
    rule_file = tmp_path / "rules" / "gw-slo.yaml"
    text = rule_file.read_text()
    assert before in text, f"{before!r} not in the rules: the mutation no longer applies"
    rule_file.write_text(text.replace(before, after))
    assert promtool("check", "rules", str(rule_file)).returncode == 0
    result = promtool("test", "rules", str(test_file))
    assert result.returncode != 0, "the generated tests did not notice a broken rule"


UNSUPPORTED = [
    (TimesliceSLI("histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))", "<", 0.3),
     "histogram_quantile"),
    (RatioSLI(error_ratio=f'1 - avg_over_time(up{{job="edge"}}[{W}])'), "other than counters"),
    (RatioSLI(total=f"sum(rate(requests_total[{W}]))", bad=f'sum(rate(requests_total{{code="500"}}[{W}])) * 0'),
     "no counters found"),
    (RatioSLI(total=f"sum(rate(http_requests_total[{W}]))",
              bad=f'sum(rate(http_requests_total{{code=~"[^2]xx"}}[{W}]))'), "no value found"),
]


@pytest.mark.parametrize("sli, reason", UNSUPPORTED)
def test_shapes_outside_the_model_get_a_note_and_no_test(tmp_path, sli, reason):
    spec = spec_of(slo("odd", sli), GATEWAY_5XX)
    test_file, notes = generate(tmp_path, spec)
    odd = [n for n in notes if n.startswith("gw/odd:")]
    assert len(odd) == 1 and "no generated test" in odd[0] and reason in odd[0], notes
    checked = set().union(*(_checked_slos(t) for t in yaml.safe_load(test_file.read_text())["tests"]))
    assert "odd" not in checked and "gateway-5xx" in checked


def test_regex_examples_match_their_regex():
    for pattern in ("5..", "Unavailable|Internal", "(5|4)[0-9]{2}", "/api/v[12]/.*", r"\d+", "prod-.+", ".*"):
        example = regex.regex_example(pattern)
        assert example is not None and re.fullmatch(pattern, example), (pattern, example)
    assert regex.regex_example("[^a]") is None  # negated classes: no guess


REGEX_EXAMPLES = [
    # (pattern, limit, examples): the first thing each piece allows, one example per alternative
    ("abc", 3, ["abc"]),
    ("Unavailable|Internal|DeadlineExceeded", 3, ["Unavailable", "Internal", "DeadlineExceeded"]),
    ("Unavailable|Internal|DeadlineExceeded", 2, ["Unavailable", "Internal"]),
    ("nv_inference_request_(success|failure)", 3, ["nv_inference_request_success", "nv_inference_request_failure"]),
    ("(?:GET|POST)/x", 3, ["GET/x", "POST/x"]),
    ("(?P<code>5)xx", 3, ["5xx"]),
    # single characters after a shared prefix are one character class: its first character
    ("a|b|c", 3, ["a"]),
    ("metric_a|metric_b", 3, ["metric_a"]),
    ("[ab]|c", 3, ["a"]),
    ("[a-z]+_[0-9]{2,3}", 3, ["a_00"]),
    ("[]x]-[-a]", 3, ["]--"]),
    (r"\.\d\s\w\D\S\W", 3, [".0 aaa-"]),
    ("x*y?z{0}w{,2}", 3, ["xyw"]),  # at the minimum count, once where that is zero
    ("a+?b{2,}", 3, ["abb"]),  # lazy quantifiers: the same
    ("^prod-.+$", 3, ["prod-0"]),
    ("a|", 3, ["a", ""]),
    ("[^a]|b", 3, ["b"]),  # an alternative without an example (a negated class) is skipped
    (r"\x41{", 3, ["A{"]),
    ("", 3, [""]),
]


@pytest.mark.parametrize("pattern, limit, expected", REGEX_EXAMPLES)
def test_regex_examples_of_the_supported_subset(pattern, limit, expected):
    examples = regex.regex_examples(pattern, limit)
    assert examples == expected
    assert all(re.fullmatch(pattern, e) for e in examples)


@pytest.mark.parametrize("pattern", ["(?=a)a", "(?<!x)y", r"(a)\1", "(?P=n)", "(?i)abc", "a*+", r"\bfoo", r"\Afoo",
                                     "[[:alpha:]]", r"\0", r"\u0041", "^*"])
def test_regexes_outside_the_subset_are_refused(pattern):
    with pytest.raises(regex.Refused):
        regex.parse(pattern)
    assert regex.regex_examples(pattern) == [] and regex.regex_example(pattern) is None


def test_invalid_regexes_get_no_example():
    for pattern in ("(", "[a", "a{2,1}", "*a"):
        assert regex.regex_examples(pattern) == []


def test_a_label_regex_outside_the_subset_leaves_the_slo_without_a_test(tmp_path):
    sli = RatioSLI(total=f"sum(rate(http_requests_total[{W}]))",
                   bad=f'sum(rate(http_requests_total{{code=~"(?i)5.."}}[{W}]))')
    _, notes = generate(tmp_path, spec_of(slo("flagged", sli), GATEWAY_5XX))
    assert [n for n in notes if n.startswith("gw/flagged:")] == [
        'gw/flagged: no generated test (ratio SLI: no value found for code=~"(?i)5.."); '
        "promtool check rules covers its syntax"]


def test_the_greedy_cover_takes_the_freshest_share_first():
    assert cover.greedy_cover([{1, 2}, {2, 3}, {3}]) == [0, 2]
    assert cover.greedy_cover([{1}, {1}, {2, 3, 4}, {4, 5}]) == [2, 0, 3]  # the larger fresh set first
    assert cover.greedy_cover([]) == []


def test_build_returns_one_test_document_per_spec_that_the_yaml_writer_prints_line_by_line():
    spec = spec_of(GATEWAY_5XX, HEADROOM)
    built = ruletests.build([rules.spec_rules(spec, 30)], Options())
    (artifact,) = built.artifacts
    assert (artifact.path, artifact.kind, artifact.format, artifact.service) == ("tests/gw-slo.yaml", "rule-tests",
                                                                               "yaml", "gw")
    assert artifact.header == ("# promtool test rules gw-slo.yaml  (generated by triton-slo; expectations from "
                               "slo/ruletests/refmodel.py)\n")
    assert (ROOT / "slo" / "ruletests" / "refmodel.py").is_file()
    text = artifact.header + yaml_text(artifact.document)
    lines = text.splitlines()
    assert lines[1:5] == ["rule_files:", '  - "../rules/gw-slo.yaml"', 'evaluation_interval: "1m"', "tests:"]
    items = [line for line in lines if line.startswith("      - ")]
    assert items and all(isinstance(json.loads(line[8:]), dict) for line in items)  # one JSON line each
    document = yaml.safe_load(text)
    assert document["tests"] and all({"name", "interval", "input_series", "promql_expr_test"} <= set(t)
                                     for t in document["tests"])


def test_builds_keep_no_state_between_them():
    """Caches belong to one build: building another spec in between changes nothing."""
    made = rules.spec_rules(spec_of(GATEWAY_5XX, HEADROOM, RAW_RATIO), 30)
    other = rules.spec_rules(Spec(Service(name="other", triton_selector={"job": "t"}, models=(ModelRef("m"),)),
                                  (slo("gateway-5xx", GATEWAY_5XX.sli), slo("gpu-headroom", HEADROOM.sli))), 30)

    def text(spec_rules):
        (artifact,) = ruletests.build([spec_rules], Options()).artifacts
        return yaml_text(artifact.document)

    first = text(made)
    text(other)
    assert text(made) == first


def test_no_rule_tests_for_the_kubernetes_target():
    built = ruletests.build([rules.spec_rules(spec_of(GATEWAY_5XX), 30)], Options(target="kubernetes"))
    assert not built.artifacts
    assert built.notes == ["SLO rule tests: not written for --target kubernetes (promtool reads plain rule files)"]


# --- the PromQL reference model against promtool's engine -----------------------------------------

EXPRESSIONS = [
    'sum by (route) (rate(req_total{job="gw"}[5m]))',
    'sum by (route) (rate(req_total{code=~"5.."}[5m])) / sum by (route) (rate(req_total[5m]))',
    "sum(increase(req_total[7m]))",
    "min by (gpu) (headroom)",
    "max(headroom) * 100 - 3",
    # not avg() over several non-integer series: Prometheus sums them in map order, so its last bit varies
    "count(headroom > 0.3)",
    "max_over_time(headroom[3m])",
    "avg_over_time(headroom[7m])",
    "sum_over_time(headroom[9m])",
    "min_over_time((max by (gpu) (headroom))[4m:30s])",
    'rate(req_total{code="500"}[5m]) / on (route) rate(req_total{code="200"}[5m])',
    "headroom > bool 0.25",
    "-headroom",
]


def _inputs() -> list[tuple[dict[str, str], list[float]]]:
    rng = np.random.default_rng(7)
    out = []
    for route in ("a", "b"):
        for code in ("200", "500"):
            increments = rng.integers(0, 50, 40)
            out.append(({"__name__": "req_total", "job": "gw", "route": route, "code": code},
                        np.concatenate(([0.0], np.cumsum(increments[1:]))).tolist()))
    for gpu in ("0", "1", "2"):
        out.append(({"__name__": "headroom", "gpu": gpu}, np.round(rng.uniform(0, 1, 40), 3).tolist()))
    return out


def _series_text(labels: dict[str, str]) -> str:
    rest = ", ".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
    return f"{labels['__name__']}{{{rest}}}"


@needs_promtool
def test_the_promql_reference_model_agrees_with_promtool(tmp_path):
    inputs = _inputs()
    engine = evaluator.PromQL(inputs, 60)
    times = [6, 11, 23, 39]
    tests = []
    for expr in EXPRESSIONS:
        result = engine.evaluate(promql_parser.parse(expr), np.array(times, dtype=float) * 60, 300)
        for i, minute in enumerate(times):
            samples = []
            for key, (values, present) in sorted(result.items()):
                if present[i]:
                    labels = dict(key)
                    name = labels.pop("__name__", "")
                    text = name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
                    samples.append({"labels": text, "value": float(values[i])})
            tests.append({"expr": expr, "eval_time": f"{minute}m", "exp_samples": samples})
    assert any(t["exp_samples"] for t in tests)
    (tmp_path / "empty.yaml").write_text("groups: []\n")
    document = {"rule_files": ["empty.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": _series_text(labels), "values": " ".join(repr(v) for v in values)}
                         for labels, values in inputs],
        "promql_expr_test": tests}]}
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    result = promtool("test", "rules", str(tmp_path / "model.yaml"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_unsupported_expressions_raise():
    engine = evaluator.PromQL(_inputs(), 60)
    for expr in ("histogram_quantile(0.9, headroom)", "headroom offset 5m", "topk(1, headroom)",
                 "headroom and headroom", "a / on (x) group_left b"):
        with pytest.raises(evaluator.Unsupported):
            engine.evaluate(promql_parser.parse(expr), np.array([600.0]), 300)


@needs_promtool
@pytest.mark.parametrize("example", ["sloth-triton.yaml", "openslo-triton.yaml", "resnet-classifier.yaml"])
def test_every_slo_of_the_examples_gets_generated_tests_that_pass(tmp_path, example):
    """Sloth's and OpenSLO's own shapes (name regexes, total minus good, raw ratios) included."""
    from triton_slo.cli import main

    examples = Path(__file__).resolve().parents[1] / "examples"
    assert main(["generate", str(examples / example), "-o", str(tmp_path)]) == 0
    (test_file,) = (tmp_path / "tests").glob("*-slo.yaml")
    document = yaml.safe_load(test_file.read_text())
    checked = set().union(*(_checked_slos(t) for t in document["tests"]))
    expected = {s.name for spec in _specs(examples / example) for s in spec.slos}
    assert expected <= checked, expected - checked
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _specs(path: Path) -> list:
    from triton_slo.readers import load_spec

    loaded = load_spec(path)
    return loaded if isinstance(loaded, list) else [loaded]


@needs_promtool
def test_tests_built_in_two_processes_pass_promtool_and_cover_every_slo(tmp_path, monkeypatch):
    """Large specs split their SLOs over two forked processes (forced here for a small spec)."""
    from test_rules import ALL_KINDS

    spec = spec_of(*CUSTOM, *(s for s in ALL_KINDS if s.name not in {c.name for c in CUSTOM}))
    sequential, notes = generate(tmp_path / "one", spec)
    monkeypatch.setattr(background, "BACKGROUND_MIN_SLOS", 1)
    assert background.fork_pays(len(spec.slos))
    halves = [packing.partition(rules.spec_rules(spec, 30).plans, 2)[k] for k in (0, 1)]
    assert halves[0] and halves[1] and not halves[0] & halves[1]
    parallel, parallel_notes = generate(tmp_path / "two", spec)
    assert sorted(parallel_notes) == sorted(notes)
    checked = [set().union(*(_checked_slos(t) for t in yaml.safe_load(f.read_text())["tests"]))
               for f in (sequential, parallel)]
    assert checked[0] == checked[1] == {s.name for s in spec.slos}
    result = promtool("test", "rules", str(parallel))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
