"""promtool unit tests of the operational alerts: ``OUT/tests/<service>-ops.yaml``.

For every rule, one case with series that must fire it (value, labels and rendered annotations
checked) and one with series just on the quiet side of its condition. Series carry the spec's own
selectors, models and thresholds, so the tests exercise the rules as generated for that spec.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from triton_slo import names
from triton_slo.alerts import opsrules as ops
from triton_slo.alerts.opsrules import OpsRule, rule_annotations, rule_labels
from triton_slo.durations import format_duration
from triton_slo.model import Spec
from triton_slo.promql import equalities, number, selector

STEP = 60  # seconds between samples and evaluations
TRITON_INSTANCE = "triton-0:8002"
EXPORTER_INSTANCE = "triton-slo-0:9400"
GPU = {"gpu": "0", "UUID": "GPU-00000000-0000-0000-0000-000000000000"}


# --- Go template functions the annotations use, as Prometheus renders them ---------------------

def _go_g(value: float, digits: int) -> str:
    """Go's ``%.<digits>g`` (the same as C's for finite numbers)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"%.{digits}g" % value


def humanize_duration(value: float) -> str:
    """Prometheus' ``humanizeDuration`` (template.go)."""
    if math.isnan(value) or math.isinf(value):
        return _go_g(value, 4)
    if value == 0:
        return _go_g(value, 4) + "s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        v = abs(value)
        seconds, minutes = int(v) % 60, (int(v) // 60) % 60
        hours, days = (int(v) // 3600) % 24, int(v) // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_go_g(v, 4)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = p
        value *= 1000
    return f"{_go_g(value, 4)}{prefix}s"


def humanize_percentage(value: float) -> str:
    return _go_g(value * 100, 4) + "%"


_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_PRINTF = re.compile(r'printf\s+"%\.(\d)([fg])"\s+\$value')


def render(template: str, labels: dict[str, str], value: float) -> str:
    """Expand the few template forms our annotations use; anything else is a bug here."""

    def one(match: re.Match[str]) -> str:
        body = match.group(1)
        if body.startswith("$labels."):
            return labels.get(body[len("$labels."):], "")
        if body == "$value | humanizeDuration":
            return humanize_duration(value)
        if body == "$value | humanizePercentage":
            return humanize_percentage(value)
        printf = _PRINTF.fullmatch(body)
        if printf:
            digits, verb = int(printf.group(1)), printf.group(2)
            return f"%.{digits}f" % value if verb == "f" else _go_g(value, digits)
        raise ValueError(f"template form not supported by the generated tests: {{{{ {body} }}}}")

    return _TEMPLATE.sub(one, template)


# --- cases ---------------------------------------------------------------------------------------

@dataclass
class Series:
    labels: dict[str, str]  # with __name__
    values: list[float | None]  # None: no sample

    def text(self) -> str:
        return selector(equalities(self.labels))

    def values_text(self) -> str:
        return " ".join("_" if v is None else _num(v) for v in self.values)


def _num(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


@dataclass
class Expected:
    rule: OpsRule
    labels: dict[str, str]  # the labels the expression returns
    value: float


@dataclass
class Case:
    name: str
    alertname: str
    eval_minutes: int
    series: list[Series] = field(default_factory=list)
    expected: list[Expected] = field(default_factory=list)  # empty: must stay quiet


class Samples:
    """Series builders for one spec: its selectors, first model, and the case length."""

    def __init__(self, spec: Spec, minutes: int) -> None:
        self.spec = spec
        self.length = minutes + 1
        model = spec.service.models[0] if spec.service.models else None
        self.model = {"model": model.name if model else "model_a",
                      "version": model.versions[0] if model and model.versions else "1"}

    def _series(self, name: str, base: dict[str, str], labels: dict[str, str], value: Callable[[int], float | None]
                ) -> Series:
        return Series({"__name__": name, **base, **labels}, [value(i) for i in range(self.length)])

    def triton(self, name: str, value: Callable[[int], float | None], **labels: str) -> Series:
        return self._series(name, self.spec.service.triton_selector, {"instance": TRITON_INSTANCE, **labels}, value)

    def exporter(self, name: str, value: Callable[[int], float | None], **labels: str) -> Series:
        return self._series(name, self.spec.service.exporter_selector, {"instance": EXPORTER_INSTANCE, **labels},
                            value)

    def at(self, series: Series) -> dict[str, str]:
        """The labels an un-aggregated rule keeps of a series."""
        return {k: v for k, v in series.labels.items() if k != "__name__"}


def _const(value: float) -> Callable[[int], float]:
    return lambda i: value


def _counter(per_minute: float) -> Callable[[int], float]:
    return lambda i: per_minute * i


def _rules(spec: Spec, alertname: str) -> list[OpsRule]:
    return [r for r in ops.ops_rules(spec) if r.alert == alertname]


def _pick(rules: list[OpsRule], severity: str, marker: str) -> OpsRule:
    """The rule of this severity whose expression starts with (or, failing that, holds) ``marker``."""
    matching = [r for r in rules if r.severity == severity]
    starting = [r for r in matching if r.expr.startswith(marker)]
    return starting[0] if starting else next(r for r in matching if marker in r.expr)


def endpoint_cases(spec: Spec) -> list[Case]:
    cases = []
    down = _rules(spec, names.SERVER_DOWN)[0]
    s = Samples(spec, 5)
    if spec.service.triton_selector:
        scrape = s.triton(names.UP, _const(0))
        cases.append(Case("Triton not scraped", names.SERVER_DOWN, 5, [scrape], [Expected(down, s.at(scrape), 0)]))
        cases.append(Case("Triton scraped", names.SERVER_DOWN, 5, [s.triton(names.UP, _const(1))]))
    live = s.exporter(names.SERVER_LIVE, _const(0))
    cases.append(Case("Triton not live", names.SERVER_DOWN, 5, [live], [Expected(down, s.at(live), 0)]))
    cases.append(Case("Triton live", names.SERVER_DOWN, 5, [s.exporter(names.SERVER_LIVE, _const(1))]))

    not_ready = _rules(spec, names.MODEL_NOT_READY)[0]
    s = Samples(spec, 6)
    ready0 = s.exporter(names.MODEL_READY, _const(0), **s.model)
    cases.append(Case("model version not ready", names.MODEL_NOT_READY, 6, [ready0],
                      [Expected(not_ready, s.at(ready0), 0)]))
    ready = [s.exporter(names.MODEL_READY, _const(1), model=m.name, version=v)
             for m in spec.service.models for v in (m.versions or ("1",))] or [
        s.exporter(names.MODEL_READY, _const(1), **s.model)]
    cases.append(Case("every model ready", names.MODEL_NOT_READY, 6,
                      [*ready, s.exporter(names.SERVER_LIVE, _const(1))]))
    if spec.service.models:
        expected = []
        for m in spec.service.models:
            for v in m.versions or ("",):
                labels = {**spec.service.exporter_selector, "model": m.name, **({"version": v} if v else {})}
                expected.append(Expected(not_ready, labels, 1))
        cases.append(Case("listed models missing while Triton is live", names.MODEL_NOT_READY, 6,
                          [s.exporter(names.SERVER_LIVE, _const(1))], expected))

    upstream = _rules(spec, names.EXPORTER_UPSTREAM_DOWN)
    s = Samples(spec, 12)
    api = s.exporter(names.EXPORTER_UP, _const(0), upstream=names.UPSTREAM_TRITON_API)
    dcgm = s.exporter(names.EXPORTER_UP, _const(0), upstream=names.UPSTREAM_DCGM)
    expected = [Expected(_pick(upstream, "critical", "triton_api"), s.at(api), 0),
                Expected(_pick(upstream, "warning", '"dcgm"'), s.at(dcgm), 0)]
    series = [api, dcgm]
    if spec.service.exporter_selector:
        itself = s.exporter(names.UP, _const(0))
        series.append(itself)
        expected.append(Expected(_pick(upstream, "warning", "up{"), s.at(itself), 0))
    cases.append(Case("exporter upstreams down", names.EXPORTER_UPSTREAM_DOWN, 12, series, expected))
    cases.append(Case("exporter upstreams up", names.EXPORTER_UPSTREAM_DOWN, 12, [
        s.exporter(names.EXPORTER_UP, _const(1), upstream=u)
        for u in (names.UPSTREAM_TRITON, names.UPSTREAM_TRITON_API, names.UPSTREAM_DCGM)]))
    return cases


def latency_cases(spec: Spec) -> list[Case]:
    t = spec.alerting.thresholds
    rules = _rules(spec, names.P99_LATENCY_HIGH)
    if not rules:
        return []
    cases = []
    s = Samples(spec, 15)
    limits = {"critical": t.p99_critical_seconds, "warning": t.p99_warning_seconds}
    set_limits = sorted(v for v in limits.values() if v)
    worst = set_limits[-1] * 1.5
    summary = s.triton(names.TRITON_REQUEST_SUMMARY_US, _const(worst * 1e6), **s.model, quantile="0.99")
    model_only = dict(s.model)
    cases.append(Case("P99 above every threshold (Triton summary)", names.P99_LATENCY_HIGH, 15, [summary], [
        Expected(_pick(rules, sev, "max by"), model_only, worst * 1e6 / 1e6)
        for sev in ("critical", "warning") if limits[sev]]))
    quiet = set_limits[0] * 0.5
    cases.append(Case("P99 under the thresholds; empty summaries are NaN", names.P99_LATENCY_HIGH, 15, [
        s.triton(names.TRITON_REQUEST_SUMMARY_US, _const(quiet * 1e6), **s.model, quantile="0.99"),
        s.triton(names.TRITON_REQUEST_SUMMARY_US, _const(math.nan), **{**s.model, "version": "2"}, quantile="0.99"),
    ]))
    if len(set_limits) == 2:
        between = (set_limits[0] + set_limits[1]) / 2
        cases.append(Case("P99 between the thresholds", names.P99_LATENCY_HIGH, 15, [
            s.triton(names.TRITON_REQUEST_SUMMARY_US, _const(between * 1e6), **s.model, quantile="0.99")],
            [Expected(_pick(rules, "warning", "max by"), model_only, between * 1e6 / 1e6)]))
    # Probe histogram, every observation in (1.2 L, 2 L]: P99 interpolates to 1.2 L + 0.99 * 0.8 L.
    top = set_limits[-1]
    low, high = top * 1.2, top * 2
    buckets = []
    for le, per_minute in ((number(low), 0), (number(high), 60), ("+Inf", 60)):
        buckets.append(s.exporter(f"{names.PROBE_LATENCY}_bucket", _counter(per_minute), **s.model, le=le))
    p99 = low + (high - low) * 0.99
    cases.append(Case("probe P99 above every threshold, no Triton summary", names.P99_LATENCY_HIGH, 15, buckets, [
        Expected(_pick(rules, sev, "histogram_quantile"), model_only, p99)
        for sev in ("critical", "warning") if limits[sev]]))
    cases.append(Case("probe P99 high but Triton's summary present and low", names.P99_LATENCY_HIGH, 15, [
        *buckets, s.triton(names.TRITON_REQUEST_SUMMARY_US, _const(quiet * 1e6), **s.model, quantile="0.99")]))
    return cases


def gpu_cases(spec: Spec) -> list[Case]:
    t = spec.alerting.thresholds
    cases = []
    oom = _rules(spec, names.GPU_OUT_OF_MEMORY)
    s = Samples(spec, 8)
    xid = s.exporter(names.GPU_XID_ERRORS, lambda i: None if i < 5 else 1, **GPU, xid="31")
    full = s.exporter(names.GPU_MEMORY_HEADROOM, _const(0.02), **GPU)
    roomy = s.exporter(names.GPU_MEMORY_HEADROOM, _const(0.5), **GPU)
    cases.append(Case("XID 31 with the framebuffer exhausted", names.GPU_OUT_OF_MEMORY, 8, [xid, full],
                      [Expected(_pick(oom, "critical", "xid"), {**GPU, "xid": "31"}, 1)]))
    cases.append(Case("XID 31 with framebuffer to spare", names.GPU_OUT_OF_MEMORY, 8, [xid, roomy]))
    s = Samples(spec, 10)
    failing = s.triton(names.TRITON_REQUEST_FAILURE, _counter(60), **s.model, reason="BACKEND")
    placed = s.exporter(names.MODEL_GPU_INFO, _const(1), **s.model, **GPU)
    cases.append(Case("backend failures on a full GPU", names.GPU_OUT_OF_MEMORY, 10,
                      [failing, placed, s.exporter(names.GPU_MEMORY_HEADROOM, _const(0.02), **GPU)],
                      [Expected(_pick(oom, "critical", "group_right"), {**s.model, **GPU}, 1)]))
    cases.append(Case("rejected requests on a full GPU are not OOM", names.GPU_OUT_OF_MEMORY, 10, [
        s.triton(names.TRITON_REQUEST_FAILURE, _counter(60), **s.model, reason="REJECTED"), placed,
        s.exporter(names.GPU_MEMORY_HEADROOM, _const(0.02), **GPU)]))

    lost = _rules(spec, names.GPU_LOST)[0]
    s = Samples(spec, 8)
    fell = s.exporter(names.GPU_XID_ERRORS, lambda i: None if i < 5 else 1, **GPU, xid="79")
    cases.append(Case("XID 79: GPU fell off the bus", names.GPU_LOST, 8, [fell],
                      [Expected(lost, {**GPU, "xid": "79"}, 1)]))
    s = Samples(spec, 40)
    old = s.exporter(names.GPU_XID_ERRORS, lambda i: 0 if i < 2 else 1, **GPU, xid="48")
    benign = s.exporter(names.GPU_XID_ERRORS, lambda i: None if i < 35 else 1, **GPU, xid="13")
    cases.append(Case("an XID 48 older than the look-back, and an application XID", names.GPU_LOST, 40, [old, benign]))

    headroom_rules = _rules(spec, names.GPU_MEMORY_HEADROOM_LOW)
    if headroom_rules:
        s = Samples(spec, 20)
        low = s.exporter(names.GPU_MEMORY_HEADROOM, _const(t.memory_headroom_warning / 2), **GPU)
        cases.append(Case("memory headroom low", names.GPU_MEMORY_HEADROOM_LOW, 20, [low],
                          [Expected(headroom_rules[0], s.at(low), t.memory_headroom_warning / 2)]))
        cases.append(Case("memory headroom fine", names.GPU_MEMORY_HEADROOM_LOW, 20,
                          [s.exporter(names.GPU_MEMORY_HEADROOM, _const(min(1.0, t.memory_headroom_warning * 2)),
                                      **GPU)]))

    throttle = _rules(spec, names.GPU_THROTTLING)[0]
    minutes = t.throttle_for_seconds // STEP + 8
    s = Samples(spec, minutes)
    hot = s.exporter(names.GPU_THROTTLE_ACTIVE, _const(1), **GPU, reason="hw_thermal_slowdown")
    cases.append(Case("thermal throttling sustained", names.GPU_THROTTLING, minutes, [hot],
                      [Expected(throttle, s.at(hot), 1)]))
    cases.append(Case("idle and brief throttling", names.GPU_THROTTLING, minutes, [
        s.exporter(names.GPU_THROTTLE_ACTIVE, _const(1), **GPU, reason="gpu_idle"),
        s.exporter(names.GPU_THROTTLE_ACTIVE, lambda i: 1 if i == minutes - 3 else 0, **GPU, reason="sw_power_cap")]))
    return cases


def model_cases(spec: Spec) -> list[Case]:
    t = spec.alerting.thresholds
    cases = []
    golden = _rules(spec, names.GOLDEN_ACCURACY_LOW)
    if golden:
        s = Samples(spec, 50)
        right = round(60 * t.accuracy_warning / 2)
        series = [s.exporter(names.GOLDEN_CORRECT, _counter(right), **s.model),
                  s.exporter(names.GOLDEN_TOTAL, _counter(60), **s.model)]
        cases.append(Case("golden accuracy low", names.GOLDEN_ACCURACY_LOW, 50, series,
                          [Expected(golden[0], dict(s.model), right / 60)]))
        cases.append(Case("golden accuracy fine", names.GOLDEN_ACCURACY_LOW, 50, [
            s.exporter(names.GOLDEN_CORRECT, _counter(60), **s.model),
            s.exporter(names.GOLDEN_TOTAL, _counter(60), **s.model)]))
        cases.append(Case("too few golden answers to judge", names.GOLDEN_ACCURACY_LOW, 50, [
            s.exporter(names.GOLDEN_CORRECT, lambda i: 0, **s.model),
            s.exporter(names.GOLDEN_TOTAL, lambda i: 0.25 * i, **s.model)]))
    queue = _rules(spec, names.QUEUE_TIME_GROWING)
    if queue:
        s = Samples(spec, 16)
        wait = t.queue_time_warning_seconds * 1.5
        cases.append(Case("queue time above its threshold", names.QUEUE_TIME_GROWING, 16, [
            s.triton(names.TRITON_QUEUE_DURATION_US, _counter(60 * wait * 1e6), **s.model),
            s.triton(names.TRITON_REQUEST_SUCCESS, _counter(60), **s.model)],
            [Expected(queue[0], dict(s.model), wait)]))
        cases.append(Case("queue time fine, and an idle model", names.QUEUE_TIME_GROWING, 16, [
            s.triton(names.TRITON_QUEUE_DURATION_US, _counter(60 * t.queue_time_warning_seconds * 0.5e6), **s.model),
            s.triton(names.TRITON_REQUEST_SUCCESS, _counter(60), **s.model),
            s.triton(names.TRITON_QUEUE_DURATION_US, _const(0), **{**s.model, "version": "2"}),
            s.triton(names.TRITON_REQUEST_SUCCESS, _const(0), **{**s.model, "version": "2"})]))
    return cases


def cases(spec: Spec) -> list[Case]:
    return endpoint_cases(spec) + latency_cases(spec) + gpu_cases(spec) + model_cases(spec)


def expected_alert(spec: Spec, e: Expected) -> dict:
    labels = {**e.labels, **rule_labels(spec, e.rule)}
    annotations = {k: render(v, labels, e.value) for k, v in rule_annotations(spec, e.rule).items()}
    return {"exp_labels": labels, "exp_annotations": annotations}


def test_document(spec: Spec, rule_file: str) -> dict:
    tests = []
    for case in cases(spec):
        tests.append({
            "name": f"{spec.service.name}: {case.name}",
            "interval": format_duration(STEP),
            "input_series": [{"series": s.text(), "values": s.values_text()} for s in case.series],
            "alert_rule_test": [{
                "eval_time": format_duration(case.eval_minutes * STEP),
                "alertname": case.alertname,
                "exp_alerts": [expected_alert(spec, e) for e in case.expected],
            }],
        })
    return {"rule_files": [rule_file], "evaluation_interval": format_duration(STEP), "tests": tests}
