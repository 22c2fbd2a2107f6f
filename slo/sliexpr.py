"""PromQL for each SLI kind: bad events and all events over a window, or a bad-slice indicator.

Per-model SLIs (availability, latency, accuracy) aggregate ``sum by (model, version)`` (Triton
may expose one series per ``gpu_uuid`` besides the one without) and are restricted to the spec's
models and versions and to the service's selectors. Ratio and timeslice SLIs keep the user's
grouping. Both ``slo.rules`` and ``slo.status`` read the SLI through this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

import promql_parser
from triton_slo.burnrate import decimal_text
from triton_slo.durations import format_duration
from triton_slo.model import (
    SLO,
    AccuracySLI,
    AvailabilitySLI,
    LatencySLI,
    ModelRef,
    RatioSLI,
    Service,
    Spec,
    TimesliceSLI,
)

PER_MODEL = ("model", "version")
TRITON_SUCCESS = "nv_inference_request_success"
TRITON_FAILURE = "nv_inference_request_failure"
TRITON_SUMMARY = "nv_inference_request_summary_us"
GOLDEN_CORRECT = "triton_slo_golden_correct_total"
GOLDEN_TOTAL = "triton_slo_golden_total"
UNIT_PER_SECOND = {"s": Decimal(1), "ms": Decimal(1000), "us": Decimal(1000000)}
_WINDOW_PLACEHOLDER = re.compile(r"\{\{\s*\.window\s*\}\}")

Matcher = tuple[str, str, str]  # (label, op, value)
MatcherSets = tuple[tuple[Matcher, ...], ...]  # alternatives: a series matching any set


def quote(value: str) -> str:
    """A PromQL string literal."""
    if "\\" not in value and '"' not in value and "\n" not in value:  # the common case, kept cheap
        return '"' + value + '"'
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def selector(matchers: Iterable[Matcher]) -> str:
    """``{a="b", c=~"d"}``; a ``__name__`` equality matcher becomes the metric name in front."""
    name, parts = "", []
    for label, op, value in matchers:
        if label == "__name__" and op == "=":
            name = value
        else:
            parts.append(f"{label}{op}{quote(value)}")
    return f"{name}{{{', '.join(parts)}}}" if parts else name or "{}"


def alternation(values: Iterable[str]) -> str:
    """An RE2 alternation matching exactly these literal values."""
    return "|".join(re.escape(v) for v in values)


def number_regex(value: Decimal) -> str:
    """A label-value regex for a number however a client printed it: ``0.05``, ``0.050``, ``100.0``."""
    text = re.escape(decimal_text(value))
    return text + "0*" if "." in text else text + r"(\.0*)?"


def model_matcher_sets(models: tuple[ModelRef, ...]) -> list[list[Matcher]]:
    """Matchers selecting the SLO's models (and versions); several sets when versions differ."""
    if not models:
        return [[]]
    sets: list[list[Matcher]] = []
    any_version = [m.name for m in models if not m.versions]
    if any_version:
        op = "=" if len(any_version) == 1 else "=~"
        sets.append([("model", op, any_version[0] if op == "=" else alternation(any_version))])
    for model in models:
        if model.versions:
            op = "=" if len(model.versions) == 1 else "=~"
            value = model.versions[0] if op == "=" else alternation(model.versions)
            sets.append([("model", "=", model.name), ("version", op, value)])
    return sets


def _equalities(labels: dict[str, str]) -> list[Matcher]:
    return [(k, "=", v) for k, v in labels.items()]


def _rate(selectors: list[str], window: str) -> str:
    return " or ".join(f"rate({s}[{window}])" for s in selectors)


def _sum_rate(selectors: list[str], window: str) -> str:
    return f"sum by (model, version) ({_rate(selectors, window)})"


@dataclass(frozen=True)
class SliQueries:
    """How one SLO's SLI reads in PromQL.

    Event SLIs give ``errors(window)`` and ``events(window)`` (per-second rates); slice SLIs give
    ``bad_slice`` (1 when the slice ending now is bad, 0 when good, absent without data); a
    precomputed ratio gives ``error_ratio(window)`` only.
    ``traffic(window)`` is the event rate a no-traffic alert watches; ``absent_selectors`` are the
    series of named models whose absence also means no traffic.
    """

    kind: str  # availability, latency, accuracy, ratio, timeslice
    alert_kind: str  # Availability, Latency, Accuracy, Custom (TritonSlo<kind>BudgetBurn)
    per_model: bool
    errors: Callable[[int], str] | None = None
    events: Callable[[int], str] | None = None
    bad_slice: str = ""
    error_ratio: Callable[[int], str] | None = None  # a precomputed error ratio (no event counts)
    traffic: Callable[[int], str] | None = None
    absent_selectors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    group_labels: tuple[str, ...] = PER_MODEL
    # The same selectors as matcher sets, for the reference model of the generated tests.
    errors_sets: MatcherSets = ()  # bad events = sum of these ...
    good_sets: MatcherSets = ()  # ... or events minus these
    events_sets: MatcherSets = ()
    slice_sets: MatcherSets = ()  # gauges judged per slice: bad above slice_limit
    slice_seconds: int = 0
    slice_limit: float = 0.0
    traffic_sets: MatcherSets = ()
    absent_sets: MatcherSets = ()

    @property
    def slices(self) -> bool:
        return bool(self.bad_slice)

    @property
    def precomputed(self) -> bool:
        return self.error_ratio is not None


def _sets(name: Matcher, base: dict[str, str], models: tuple[ModelRef, ...], extra: Iterable[Matcher] = ()
          ) -> MatcherSets:
    return tuple((name, *_equalities(base), *model_set, *extra) for model_set in model_matcher_sets(models))


def _metric_sets(metric: str, base: dict[str, str], models: tuple[ModelRef, ...],
                 extra: Iterable[Matcher] = ()) -> MatcherSets:
    return _sets(("__name__", "=", metric), base, models, extra)


def _absent_sets(metric: str, base: dict[str, str], models: tuple[ModelRef, ...]) -> MatcherSets:
    """One equality set per named model (and version) whose series must exist."""
    out = []
    for model in models:
        for version in model.versions or ("",):
            version_matcher = (("version", "=", version),) if version else ()
            out.append((("__name__", "=", metric), *_equalities(base), ("model", "=", model.name), *version_matcher))
    return tuple(out)


def selectors(sets: MatcherSets) -> list[str]:
    return [selector(s) for s in sets]


def matches(labels: dict[str, str], matchers: Iterable[Matcher]) -> bool:
    """Whether a series (labels with ``__name__``) is selected by the matchers."""
    for label, op, value in matchers:
        have = labels.get(label, "")
        if op == "=" and have != value or op == "!=" and have == value:
            return False
        if op in ("=~", "!~") and (re.fullmatch(value, have) is None) == (op == "=~"):
            return False
    return True


def _availability(sli: AvailabilitySLI, service: Service, models: tuple[ModelRef, ...]) -> SliQueries:
    reasons: list[Matcher] = [("reason", "!~", alternation(sli.exclude_reasons))] if sli.exclude_reasons else []
    base = service.triton_selector
    failure_sets = _metric_sets(TRITON_FAILURE, base, models, reasons)
    success_sets = _metric_sets(TRITON_SUCCESS, base, models)
    failures = selectors(failure_sets)
    absent_sets = _absent_sets(TRITON_SUCCESS, base, models)

    def requests(w: int) -> str:
        # Two sums: rate() drops the metric name, so one selector for both counters would clash.
        return f"{_sum_rate(selectors(success_sets), format_duration(w))} + {_sum_rate(failures, format_duration(w))}"

    return SliQueries(
        kind="availability", alert_kind="Availability", per_model=True,
        errors=lambda w: _sum_rate(failures, format_duration(w)),
        events=requests,
        traffic=requests,
        absent_selectors=tuple(selectors(absent_sets)),
        errors_sets=failure_sets, events_sets=success_sets + failure_sets, traffic_sets=success_sets + failure_sets,
        absent_sets=absent_sets,
    )


def _triton_requests(service: Service, models: tuple[ModelRef, ...]) -> tuple[Callable[[int], str], MatcherSets]:
    """Requests per second of each model (success plus failure), and the series it reads."""
    success = _metric_sets(TRITON_SUCCESS, service.triton_selector, models)
    failure = _metric_sets(TRITON_FAILURE, service.triton_selector, models)

    def requests(w: int) -> str:
        d = format_duration(w)
        return f"{_sum_rate(selectors(success), d)} + {_sum_rate(selectors(failure), d)}"

    return requests, success + failure


def _histogram_latency(sli: LatencySLI, service: Service, models: tuple[ModelRef, ...]) -> SliQueries:
    base = service.exporter_selector if sli.metric.startswith("triton_slo_") else service.triton_selector
    bound = Decimal(repr(sli.threshold_seconds)) * UNIT_PER_SECOND[sli.metric_unit]
    le = [("le", "=~", number_regex(bound))]
    bucket_sets = _metric_sets(f"{sli.metric}_bucket", base, models, le)
    count_sets = _metric_sets(f"{sli.metric}_count", base, models)
    buckets, counts = selectors(bucket_sets), selectors(count_sets)
    absent_sets = _absent_sets(f"{sli.metric}_count", base, models)

    def errors(w: int) -> str:
        d = format_duration(w)
        return f"clamp_min({_sum_rate(counts, d)} - {_sum_rate(buckets, d)}, 0)"

    return SliQueries(
        kind="latency", alert_kind="Latency", per_model=True,
        errors=errors,
        events=lambda w: _sum_rate(counts, format_duration(w)),
        traffic=lambda w: _sum_rate(counts, format_duration(w)),
        absent_selectors=tuple(selectors(absent_sets)),
        good_sets=bucket_sets, events_sets=count_sets, traffic_sets=count_sets, absent_sets=absent_sets,
        notes=(f"good requests are those in bucket le={decimal_text(bound)} of {sli.metric}; that must be a "
               "bucket boundary of the histogram (`status` says no data when it is not)",),
    )


def _summary_latency(sli: LatencySLI, service: Service, models: tuple[ModelRef, ...]) -> SliQueries:
    base = service.triton_selector
    limit_us = Decimal(repr(sli.threshold_seconds)) * UNIT_PER_SECOND["us"]
    quantile = [("quantile", "=~", number_regex(Decimal(repr(sli.quantile))))]
    summary_sets = _metric_sets(TRITON_SUMMARY, base, models, quantile)
    summaries = selectors(summary_sets)
    slice_range = format_duration(sli.slice_seconds)
    # The worst quantile seen in the slice decides it; a NaN quantile (no requests) is not bad.
    worst = " or ".join(f"max_over_time({s}[{slice_range}])" for s in summaries)
    requests, request_sets = _triton_requests(service, models)
    absent_sets = _absent_sets(TRITON_SUCCESS, base, models)
    return SliQueries(
        kind="latency", alert_kind="Latency", per_model=True,
        bad_slice=f"max by (model, version) ({worst}) > bool {decimal_text(limit_us)}",
        traffic=requests,
        absent_selectors=tuple(selectors(absent_sets)),
        slice_sets=summary_sets, slice_seconds=sli.slice_seconds, slice_limit=float(limit_us),
        traffic_sets=request_sets, absent_sets=absent_sets,
    )


def _accuracy(service: Service, models: tuple[ModelRef, ...]) -> SliQueries:
    base = service.exporter_selector
    correct_sets = _metric_sets(GOLDEN_CORRECT, base, models)
    total_sets = _metric_sets(GOLDEN_TOTAL, base, models)
    correct, total = selectors(correct_sets), selectors(total_sets)
    absent_sets = _absent_sets(GOLDEN_TOTAL, base, models)

    def errors(w: int) -> str:
        d = format_duration(w)
        return f"clamp_min({_sum_rate(total, d)} - {_sum_rate(correct, d)}, 0)"

    return SliQueries(
        kind="accuracy", alert_kind="Accuracy", per_model=True,
        errors=errors,
        events=lambda w: _sum_rate(total, format_duration(w)),
        traffic=lambda w: _sum_rate(total, format_duration(w)),
        absent_selectors=tuple(selectors(absent_sets)),
        good_sets=correct_sets, events_sets=total_sets, traffic_sets=total_sets, absent_sets=absent_sets,
    )


def with_window(query: str, seconds: int) -> str:
    """A Sloth-style query with ``{{.window}}`` replaced by the range."""
    return _WINDOW_PLACEHOLDER.sub(format_duration(seconds), query.strip())


def _precomputed_ratio(sli: RatioSLI) -> SliQueries:
    # A ratio query gives NaN where its denominator saw nothing (0/0): the filter drops it, and
    # anything outside 0..1, so no NaN or Inf is ever recorded and no traffic is not "0 errors".
    return SliQueries(
        kind="ratio", alert_kind="Custom", per_model=False, group_labels=grouping(sli.error_ratio),
        error_ratio=lambda w: f"({with_window(sli.error_ratio, w)}) >= 0 <= 1",
    )


def _ratio(sli: RatioSLI) -> SliQueries:
    if sli.precomputed:
        return _precomputed_ratio(sli)
    def errors(w: int) -> str:
        if sli.bad:
            return f"({with_window(sli.bad, w)})"
        return f"clamp_min(({with_window(sli.total, w)}) - ({with_window(sli.good, w)}), 0)"

    return SliQueries(
        kind="ratio", alert_kind="Custom", per_model=False, group_labels=grouping(sli.total),
        errors=errors,
        events=lambda w: f"({with_window(sli.total, w)})",
        traffic=lambda w: f"({with_window(sli.total, w)})",
    )


def grouping(query: str) -> tuple[str, ...]:
    """The labels a user's query groups by at its top (``sum by (a, b) (...)``), else none."""
    try:
        expr = promql_parser.parse(with_window(query, 300))
    except (ValueError, RuntimeError):
        return ()
    while True:
        if isinstance(expr, promql_parser.ParenExpr):
            expr = expr.expr
        elif isinstance(expr, promql_parser.BinaryExpr):  # the side that is not a number (1 - x)
            expr = expr.rhs if isinstance(expr.lhs, promql_parser.NumberLiteral) else expr.lhs
        elif isinstance(expr, promql_parser.AggregateExpr):
            modifier = expr.modifier
            if modifier is not None and modifier.type == promql_parser.AggModifierType.By:
                return tuple(modifier.labels)
            return ()
        else:
            return ()


BAD_OP = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _timeslice(sli: TimesliceSLI, evaluation_interval: int) -> SliQueries:
    query = sli.query.strip()
    if sli.slice_seconds > evaluation_interval:
        # The worst value in the slice decides it: highest when good means low, and the reverse.
        worst = "max_over_time" if sli.op in ("<", "<=") else "min_over_time"
        query = f"{worst}(({query})[{format_duration(sli.slice_seconds)}:{format_duration(evaluation_interval)}])"
    else:
        query = f"({query})"
    limit = decimal_text(Decimal(repr(sli.threshold)))
    return SliQueries(
        kind="timeslice", alert_kind="Custom", per_model=False, group_labels=grouping(sli.query),
        bad_slice=f"{query} {BAD_OP[sli.op]} bool {limit}",
    )


def sli_queries(spec: Spec, slo: SLO, evaluation_interval: int = 30) -> SliQueries:
    """The PromQL of an SLO's SLI."""
    sli, service, models = slo.sli, spec.service, spec.models_of(slo)
    if isinstance(sli, AvailabilitySLI):
        return _availability(sli, service, models)
    if isinstance(sli, LatencySLI):
        if sli.source == "histogram":
            return _histogram_latency(sli, service, models)
        return _summary_latency(sli, service, models)
    if isinstance(sli, AccuracySLI):
        return _accuracy(service, models)
    if isinstance(sli, RatioSLI):
        return _ratio(sli)
    if isinstance(sli, TimesliceSLI):
        return _timeslice(sli, evaluation_interval)
    raise TypeError(f"unknown SLI {type(sli).__name__}")
