"""PromQL for each SLI kind: bad events and all events over a window, or a bad-slice indicator.

Per-model SLIs (availability, latency, accuracy) aggregate ``sum by (model, version)`` (Triton
may expose one series per ``gpu_uuid`` besides the one without) and are restricted to the spec's
models and versions and to the service's selectors. Ratio and timeslice SLIs keep the user's
grouping. Both ``slo.rules`` and ``slo.status`` read the SLI through this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

import promql_parser
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
from triton_slo.names import (
    EXPORTER_PREFIX,
    GOLDEN_CORRECT,
    GOLDEN_TOTAL,
    PER_MODEL,
    TRITON_REQUEST_FAILURE,
    TRITON_REQUEST_SUCCESS,
    TRITON_REQUEST_SUMMARY_US,
)
from triton_slo.promql import (
    Matcher,
    MatcherSets,
    alternation,
    equalities,
    model_matcher_sets,
    number,
    number_regex,
    selector,
    with_window,
)

UNIT_PER_SECOND = {"s": Decimal(1), "ms": Decimal(1000), "us": Decimal(1000000)}


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
    return tuple((name, *equalities(base), *model_set, *extra) for model_set in model_matcher_sets(models))


def _metric_sets(metric: str, base: dict[str, str], models: tuple[ModelRef, ...],
                 extra: Iterable[Matcher] = ()) -> MatcherSets:
    return _sets(("__name__", "=", metric), base, models, extra)


def _absent_sets(metric: str, base: dict[str, str], models: tuple[ModelRef, ...]) -> MatcherSets:
    """One equality set per named model (and version) whose series must exist."""
    out = []
    for model in models:
        for version in model.versions or ("",):
            version_matcher = (("version", "=", version),) if version else ()
            out.append((("__name__", "=", metric), *equalities(base), ("model", "=", model.name), *version_matcher))
    return tuple(out)


def selectors(sets: MatcherSets) -> list[str]:
    return [selector(s) for s in sets]


def _availability(sli: AvailabilitySLI, service: Service, models: tuple[ModelRef, ...]) -> SliQueries:
    reasons: list[Matcher] = [("reason", "!~", alternation(sli.exclude_reasons))] if sli.exclude_reasons else []
    base = service.triton_selector
    failure_sets = _metric_sets(TRITON_REQUEST_FAILURE, base, models, reasons)
    success_sets = _metric_sets(TRITON_REQUEST_SUCCESS, base, models)
    failures = selectors(failure_sets)
    absent_sets = _absent_sets(TRITON_REQUEST_SUCCESS, base, models)

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
    success = _metric_sets(TRITON_REQUEST_SUCCESS, service.triton_selector, models)
    failure = _metric_sets(TRITON_REQUEST_FAILURE, service.triton_selector, models)

    def requests(w: int) -> str:
        d = format_duration(w)
        return f"{_sum_rate(selectors(success), d)} + {_sum_rate(selectors(failure), d)}"

    return requests, success + failure


def _histogram_latency(sli: LatencySLI, service: Service, models: tuple[ModelRef, ...]) -> SliQueries:
    base = service.exporter_selector if sli.metric.startswith(EXPORTER_PREFIX) else service.triton_selector
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
        notes=(f"good requests are those in bucket le={number(bound)} of {sli.metric}; that must be a "
               "bucket boundary of the histogram (`status` says no data when it is not)",),
    )


def _summary_latency(sli: LatencySLI, service: Service, models: tuple[ModelRef, ...]) -> SliQueries:
    base = service.triton_selector
    limit_us = Decimal(repr(sli.threshold_seconds)) * UNIT_PER_SECOND["us"]
    quantile = [("quantile", "=~", number_regex(Decimal(repr(sli.quantile))))]
    summary_sets = _metric_sets(TRITON_REQUEST_SUMMARY_US, base, models, quantile)
    summaries = selectors(summary_sets)
    slice_range = format_duration(sli.slice_seconds)
    # The worst quantile seen in the slice decides it; a NaN quantile (no requests) is not bad.
    worst = " or ".join(f"max_over_time({s}[{slice_range}])" for s in summaries)
    requests, request_sets = _triton_requests(service, models)
    absent_sets = _absent_sets(TRITON_REQUEST_SUCCESS, base, models)
    return SliQueries(
        kind="latency", alert_kind="Latency", per_model=True,
        bad_slice=f"max by (model, version) ({worst}) > bool {number(limit_us)}",
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
    limit = number(Decimal(repr(sli.threshold)))
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
