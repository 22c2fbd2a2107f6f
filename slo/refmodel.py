"""A small reference model of SLO burn-rate alerting, in plain Python, for the generated tests.

It computes, from sampled counters or gauges, what the SLO rules are specified to compute
(``slo.rules`` describes it): error ratios over raw windows with Prometheus 2.x ``rate()``
semantics (closed range, extrapolation), ratios of sums of recorded base-window rates, the
average of a bad-slice indicator, burn rates, budget left, and which burn-rate tiers fire. It
never reads or runs a rule: the generated promtool tests compare the two.

Everything is sampled on one grid: scrapes and rule evaluations both happen every ``step``
seconds, at ``0, step, 2*step, ...``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np


def prom_rate(values: Sequence[float], step: int, index: int, window: int) -> float | None:
    """``rate(x[window])`` at sample ``index`` (Prometheus 2.x: closed range, extrapolated).

    ``values[i]`` is a counter's sample at ``i * step``, without gaps or resets (the generated
    tests write no others). None: fewer than two samples in the range.
    """
    end = index * step
    start = end - window
    first = max(0, -(-start // step))
    if index - first < 1:
        return None
    increase = values[index] - values[first]
    sampled = float((index - first) * step)
    average = sampled / (index - first)
    to_start = float(first * step - start)
    to_end = 0.0
    if increase > 0 and values[first] >= 0:
        to_start = min(to_start, sampled * (values[first] / increase))
    limit = average * 1.1
    extrapolated = sampled
    extrapolated += to_start if to_start < limit else average / 2
    extrapolated += to_end if to_end < limit else average / 2
    factor = (extrapolated / sampled) / float(window)  # in this order, as Prometheus rounds
    return increase * factor


def prom_rates(values: Sequence[float], step: int, window: int) -> np.ndarray:
    """``prom_rate`` at every sample at once (numpy, the same float operations in the same order)."""
    v = np.asarray(values, dtype=float)
    index = np.arange(len(v))
    end = index * step
    start = end - window
    first = np.maximum(0, -(-start // step))
    count = index - first
    valid = count >= 1
    safe = np.where(valid, count, 1)
    increase = v - v[first]
    sampled = (safe * step).astype(float)
    average = sampled / safe
    to_start = (first * step - start).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_zero = sampled * (v[first] / increase)
    to_start = np.where((increase > 0) & (v[first] >= 0), np.minimum(to_start, to_zero), to_start)
    limit = average * 1.1
    extrapolated = sampled + np.where(to_start < limit, to_start, average / 2)
    extrapolated = extrapolated + np.where(0.0 < limit, 0.0, average / 2)
    factor = (extrapolated / sampled) / float(window)
    return np.where(valid, increase * factor, math.nan)


def _in_range(index: int, step: int, window: int) -> range:
    first = max(0, math.ceil((index * step - window) / step))
    return range(first, index + 1)


def _picked(series: Sequence[float | None], step: int, index: int, window: int) -> list[float]:
    """The samples of a recorded series in ``[t - window, t]`` (absent ones skipped), oldest first."""
    start = _in_range(index, step, window).start
    while start <= index and series[start] is None:  # a rule records nothing before two samples
        start += 1
    picked = series[start:index + 1]
    return picked if None not in picked else [v for v in picked if v is not None]


def sum_over_time(series: Sequence[float | None], step: int, index: int, window: int) -> float | None:
    picked = _picked(series, step, index, window)
    return kahan_sum(picked) if picked else None


def _kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """One step of Neumaier-compensated summation, as Prometheus 2.x sums over time."""
    t = total + inc
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def kahan_sum(values: Sequence[float]) -> float:
    """``sum_over_time`` of these values, rounded as Prometheus rounds it."""
    total, c = 0.0, 0.0
    for v in values:
        total, c = _kahan_inc(v, total, c)
    return total if math.isinf(total) else total + c


def incremental_mean(values: Sequence[float]) -> float:
    """``avg_over_time`` as Prometheus 2.x computes it (a compensated incremental mean); the
    rounding matters at thresholds: a plain 6/20 is 0.3, not above a 0.3 threshold."""
    mean, c, count = 0.0, 0.0, 0.0
    for v in values:
        count += 1
        mean, c = _kahan_inc(v / count - mean / count, mean, c)
    return mean if math.isinf(mean) else mean + c


def avg_over_time(series: Sequence[float | None], step: int, index: int, window: int) -> float | None:
    picked = _picked(series, step, index, window)
    return incremental_mean(picked) if picked else None


def ratio(errors: float | None, events: float | None) -> float | None:
    """``errors / (events > 0)``: nothing without events."""
    if errors is None or events is None or not events > 0:
        return None
    return errors / events


@dataclass(frozen=True)
class Window:
    seconds: int
    raw: bool  # read from the raw counters (else a ratio of sums of base rates)


@dataclass(frozen=True)
class Tier:
    name: str
    severity: str
    factor: Decimal
    long: Window
    short: Window


def _sum_present(rates: Sequence[float | None]) -> float | None:
    present = [r for r in rates if r is not None]
    return None if not present else sum(present[1:], present[0])


class RateFn:
    """A per-second rate by (sample index, window); ``series(window)`` gives every sample at once."""

    def __call__(self, index: int, window: int) -> float | None:
        raise NotImplementedError

    def array(self, window: int, length: int) -> np.ndarray:
        """Every sample at once, NaN where absent."""
        return np.array([math.nan if (r := self(i, window)) is None else r for i in range(length)])

    def series(self, window: int, length: int) -> list[float | None]:
        return [None if r != r else r for r in self.array(window, length).tolist()]


class summed_rate(RateFn):  # noqa: N801 - reads as the PromQL it models
    """``sum(rate(x[w]))`` over several series: absent only when every series is."""

    def __init__(self, counters: Sequence[Sequence[float]], step: int) -> None:
        self.counters, self.step = counters, step

    def __call__(self, index: int, window: int) -> float | None:
        return _sum_present([prom_rate(c, self.step, index, window) for c in self.counters])

    def array(self, window: int, length: int) -> np.ndarray:
        columns = [prom_rates(c, self.step, window) for c in self.counters]
        total = columns[0]
        for column in columns[1:]:  # a + b in order; absent only where every series is
            total = np.where(np.isnan(total), column, np.where(np.isnan(column), total, total + column))
        return total


class difference_rate(RateFn):  # noqa: N801
    """``clamp_min(total - good, 0)``: bad events counted as all minus good."""

    def __init__(self, total: RateFn, good: RateFn) -> None:
        self.total, self.good = total, good

    def __call__(self, index: int, window: int) -> float | None:
        return self._diff(self.total(index, window), self.good(index, window))

    def array(self, window: int, length: int) -> np.ndarray:
        return np.maximum(self.total.array(window, length) - self.good.array(window, length), 0.0)

    @staticmethod
    def _diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else max(a - b, 0.0)


class EventModel:
    """An event SLI of one model (or group): rates of bad and of all events, sampled every ``step``."""

    def __init__(self, errors: RateFn, events: RateFn, length: int, step: int, base: int) -> None:
        self.errors, self.events, self.step, self.base, self.length = errors, events, step, base, length
        self.error_rate = errors.series(base, length)
        self.event_rate = events.series(base, length)

    def ratio(self, window: Window, index: int) -> float | None:
        if window.seconds == self.base:
            return ratio(self.error_rate[index], self.event_rate[index])
        if window.raw:
            return ratio(self.errors(index, window.seconds), self.events(index, window.seconds))
        return ratio(sum_over_time(self.error_rate, self.step, index, window.seconds),
                     sum_over_time(self.event_rate, self.step, index, window.seconds))

    def events_in(self, window: int, index: int) -> float | None:
        """Events in a window, as the minimum-traffic guard estimates them."""
        if window == self.base:
            rate = self.event_rate[index]
            return None if rate is None else rate * self.base
        average = avg_over_time(self.event_rate, self.step, index, window)
        return None if average is None else average * window


class SliceModel:
    """A time-slice SLI: a gauge judged over each slice (worst value in it; NaN is not bad)."""

    def __init__(self, gauges: Sequence[Sequence[float]], step: int, slice_seconds: int, bad_above: float) -> None:
        self.step = step
        self.length = length = len(gauges[0])
        values = np.asarray(gauges, dtype=float)  # series x samples
        index = np.arange(length)
        first = np.maximum(0, -(-(index * step - slice_seconds) // step))
        worst = np.full(length, -math.inf)
        for lag in range(int((index - first).max()) + 1 if length else 0):
            at = index - lag
            inside = at >= first
            column = np.where(inside[None, :], values[:, np.clip(at, 0, None)], math.nan)
            worst = np.fmax(worst, np.nanmax(np.where(np.isnan(column), -math.inf, column), axis=0))
        # NaN (a quantile without requests) is not bad; a slice holding only NaN is good
        self.bad: list[float | None] = np.where(worst > bad_above, 1.0, 0.0).tolist()

    @classmethod
    def from_bad(cls, bad: list[float | None], step: int) -> SliceModel:
        """A slice SLI whose verdicts (1 bad, 0 good, None absent) were computed elsewhere."""
        model = cls.__new__(cls)
        model.step, model.bad, model.length = step, bad, len(bad)
        return model

    def ratio(self, window: Window, index: int) -> float | None:
        return avg_over_time(self.bad, self.step, index, window.seconds)

    def events_in(self, window: int, index: int) -> float | None:
        return None


NEAR = 1e-9  # relative distance to a threshold inside which the exact (sequential) sums decide


def _decided(model: EventModel | SliceModel, window: Window, index: int, limit: float, exact: bool) -> float | None:
    """The ratio over a window at ``index``: from the whole-timeline arrays, unless it is so close
    to ``limit`` (or ``exact`` is asked) that only Prometheus' own rounding can tell the side."""
    if not exact:
        value = cached_ratio_array(model, window)[index]
        if value != value:
            return None
        if abs(value - limit) > NEAR * abs(limit):
            return float(value)
    return model.ratio(window, index)


def fires(model: EventModel | SliceModel, tier: Tier, budget: Decimal, index: int, min_events: int = 0,
          exact: bool = False) -> float | None:
    """The tier's alert value (burn rate over the long window) when it fires at ``index``, else None.

    The value is exact with ``exact``; else within ``NEAR`` (relative) of it, and the decision exact.
    """
    limit = float(tier.factor * budget)
    long_ratio = _decided(model, tier.long, index, limit, exact)
    short_ratio = _decided(model, tier.short, index, limit, exact)
    if long_ratio is None or short_ratio is None or not (long_ratio > limit and short_ratio > limit):
        return None
    if min_events > 0 and isinstance(model, EventModel):
        events = model.events_in(tier.short.seconds, index)
        if events is None or not events >= min_events:
            return None
    return long_ratio / float(budget)


def budget_remaining(model: EventModel | SliceModel, period: int, budget: Decimal, index: int,
                     exact: bool = True) -> float | None:
    if exact:
        period_ratio = model.ratio(Window(period, raw=False), index)
    else:
        value = cached_ratio_array(model, Window(period, raw=False))[index]
        period_ratio = None if value != value else float(value)
    return None if period_ratio is None else 1 - period_ratio / float(budget)


def no_traffic(events: Sequence[float], step: int, index: int, window: int) -> bool:
    rate = prom_rate(events, step, index, window)
    return rate is not None and rate == 0


# --- whole-timeline scans (numpy): where alerts may start or stop --------------------------------
# Sums here come from cumulative sums, which round differently from Prometheus's running sums;
# they only pick the moments to check. What fires at a checked moment comes from ``fires``.


def _array(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def _model_array(model: EventModel | SliceModel, name: str) -> np.ndarray:
    """A model's per-sample list (``error_rate``, ``event_rate``, ``bad``) as an array, made once."""
    cache = model.__dict__.setdefault("_arrays", {})
    if name not in cache:
        cache[name] = _array(getattr(model, name))
    return cache[name]


def _prefix_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running (sum, count) of the present samples, with a leading zero."""
    present = ~np.isnan(values)
    return (np.concatenate(([0.0], np.cumsum(np.where(present, values, 0.0)))),
            np.concatenate(([0], np.cumsum(present))))


def _window_sum(prefix: tuple[np.ndarray, np.ndarray], step: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(sum, count) of the present samples in [t - window, t] at every sample, from the values'
    ``_prefix_sums``."""
    sums, counts = prefix
    index = np.arange(len(sums) - 1)
    first = np.maximum(0, -(-(index * step - window) // step))
    return sums[index + 1] - sums[first], counts[index + 1] - counts[first]


def _model_window_sum(model: EventModel | SliceModel, name: str, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``_window_sum`` of a model's per-sample list, its running sums made once per model."""
    cache = model.__dict__.setdefault("_prefix", {})
    if name not in cache:
        cache[name] = _prefix_sums(_model_array(model, name))
    return _window_sum(cache[name], model.step, window)


def _ratio_array(errors: np.ndarray, events: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(events > 0, errors / np.where(events > 0, events, 1.0), math.nan)


def ratio_array(model: EventModel | SliceModel, window: Window, length: int) -> np.ndarray:
    """The error ratio over a window at every sample (NaN: none)."""
    if isinstance(model, SliceModel):
        total, count = _model_window_sum(model, "bad", window.seconds)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), math.nan)
    if window.seconds == model.base:
        return _ratio_array(_model_array(model, "error_rate"), _model_array(model, "event_rate"))
    if window.raw:
        return _ratio_array(model.errors.array(window.seconds, length), model.events.array(window.seconds, length))
    errors, n_errors = _model_window_sum(model, "error_rate", window.seconds)
    events, n_events = _model_window_sum(model, "event_rate", window.seconds)
    return _ratio_array(np.where(n_errors > 0, errors, math.nan), np.where(n_events > 0, events, math.nan))


def cached_ratio_array(model: EventModel | SliceModel, window: Window) -> np.ndarray:
    """``ratio_array`` kept on the model (the checks of a timeline ask for the same windows)."""
    cache = model.__dict__.setdefault("_ratio_arrays", {})
    if window not in cache:
        cache[window] = ratio_array(model, window, model.length)
    return cache[window]


def fires_states(model: EventModel | SliceModel, tier: Tier, budget: Decimal, length: int,
                 min_events: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(firing, unsure) at every sample, from the whole-timeline arrays: ``unsure`` where a ratio
    or the event count lies within ``NEAR`` of its limit, so that only ``fires`` can tell."""
    limit = float(tier.factor * budget)
    long_ratio, short_ratio = cached_ratio_array(model, tier.long), cached_ratio_array(model, tier.short)
    near = NEAR * abs(limit)
    with np.errstate(invalid="ignore"):
        firing = (long_ratio > limit) & (short_ratio > limit)
        unsure = (np.abs(long_ratio - limit) <= near) | (np.abs(short_ratio - limit) <= near)
        if min_events > 0 and isinstance(model, EventModel):
            rates = _model_array(model, "event_rate")
            if tier.short.seconds == model.base:
                events = rates * model.base
            else:
                total, count = _model_window_sum(model, "event_rate", tier.short.seconds)
                events = np.where(count > 0, total / np.maximum(count, 1), math.nan) * tier.short.seconds
            firing &= events >= min_events
            unsure |= np.abs(events - min_events) <= NEAR * min_events
    return firing, unsure


# --- a PromQL subset, for the user's own queries (ratio and timeslice SLIs) ------------------------
# Evaluated over the test's input series at many timestamps at once (numpy), with Prometheus
# 2.x semantics: closed ranges, rate() extrapolation, sums in series order, NaN rules of min/max.
# Anything else raises Unsupported: the SLO then gets no generated test rather than a guess.

LOOKBACK = 300  # seconds an instant selector looks back (Prometheus' default lookback delta)
WINDOW_SENTINEL = 987654321  # seconds standing for ``{{.window}}`` while a query is parsed

LabelKey = tuple[tuple[str, str], ...]  # sorted (label, value) pairs, empty values left out
Sample = tuple[np.ndarray, np.ndarray]  # (values, present) at each evaluation time
Vector = dict[LabelKey, Sample]


class Unsupported(Exception):
    """A query the reference model cannot evaluate (the reason is the message)."""


def label_key(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted((k, v) for k, v in labels.items() if v != ""))


def _without_name(key: LabelKey) -> LabelKey:
    return tuple(kv for kv in key if kv[0] != "__name__")


def _keep_first(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    return np.where(present, values, math.nan)


def rate_at(values: np.ndarray, step: int, times: np.ndarray, window: float, per_second: bool) -> Sample:
    """``rate(x[window])`` (or ``increase``) of a counter sampled every ``step`` s from 0, at any times."""
    n = len(values)
    first = np.maximum(0, np.ceil((times - window) / step)).astype(int)
    last = np.minimum(n - 1, np.floor(times / step)).astype(int)
    count = last - first
    present = (count >= 1) & (times >= 0)
    first_c, last_c = np.clip(first, 0, n - 1), np.clip(last, 0, n - 1)
    safe = np.where(present, count, 1)
    increase = values[last_c] - values[first_c]
    sampled = (safe * step).astype(float)
    average = sampled / safe
    to_start = (first_c * step - (times - window)).astype(float)
    to_end = (times - last_c * step).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_zero = sampled * (values[first_c] / increase)
    to_start = np.where((increase > 0) & (values[first_c] >= 0), np.minimum(to_start, to_zero), to_start)
    limit = average * 1.1
    extrapolated = sampled + np.where(to_start < limit, to_start, average / 2)
    extrapolated = extrapolated + np.where(to_end < limit, to_end, average / 2)
    factor = extrapolated / sampled
    if per_second:
        factor = factor / float(window)
    return np.where(present, increase * factor, math.nan), present


def _reduce_min_max(matrix: np.ndarray, present: np.ndarray, op: str) -> Sample:
    """min/max over rows as Prometheus does: the first point, replaced by a lower (higher) one or over NaN."""
    out = np.full(matrix.shape[0], math.nan)
    seen = np.zeros(matrix.shape[0], dtype=bool)
    for j in range(matrix.shape[1]):
        v, p = matrix[:, j], present[:, j]
        better = (out > v) if op == "min" else (out < v)
        take = p & (~seen | better | np.isnan(out))
        out = np.where(take, v, out)
        seen |= p
    return out, seen


_MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
COMPARE = {"==": np.equal, "!=": np.not_equal, ">": np.greater, "<": np.less, ">=": np.greater_equal,
            "<=": np.less_equal}
_ARITHMETIC = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


class PromQL:
    """Evaluates a small subset of PromQL over sampled input series.

    ``series``: (labels with ``__name__``, samples every ``step`` seconds from 0). Supported:
    selectors with label matchers, ``rate``/``increase`` of counters, ``min_over_time`` and
    ``max_over_time`` of gauges or subqueries, ``sum``/``min``/``max``/``avg``/``count`` with or
    without ``by``/``without``, arithmetic and comparisons between vectors (one-to-one, optionally
    ``on``/``ignoring``) and numbers, unary minus and parentheses.
    """

    def __init__(self, series: Sequence[tuple[dict[str, str], Sequence[float]]], step: int) -> None:
        self.step = step
        self.by_name: dict[str, list[tuple[LabelKey, dict[str, str], np.ndarray]]] = {}
        for labels, values in series:
            self.by_name.setdefault(labels["__name__"], []).append(
                (label_key(labels), labels, np.asarray(values, dtype=float)))
        for rows in self.by_name.values():
            rows.sort(key=lambda row: row[0])  # Prometheus reads series in label order
        self._selected: dict[tuple, list] = {}

    def evaluate(self, expr: object, times: np.ndarray, window: float) -> Vector | np.ndarray:
        """The value of ``expr`` at ``times``; ranges written as ``WINDOW_SENTINEL`` read ``window``."""
        import promql_parser as pp

        if isinstance(expr, pp.ParenExpr):
            return self.evaluate(expr.expr, times, window)
        if isinstance(expr, pp.NumberLiteral):
            return np.full(len(times), float(expr.val))
        if isinstance(expr, pp.UnaryExpr):
            inner = self.evaluate(expr.expr, times, window)
            if isinstance(inner, dict):
                return {_without_name(k): (-v, p) for k, (v, p) in inner.items()}
            return -inner
        if isinstance(expr, pp.VectorSelector):
            return self._instant(expr, times)
        if isinstance(expr, pp.Call):
            return self._call(expr, times, window)
        if isinstance(expr, pp.AggregateExpr):
            return self._aggregate(expr, times, window)
        if isinstance(expr, pp.BinaryExpr):
            return self._binary(expr, times, window)
        raise Unsupported(f"{type(expr).__name__} is not modelled")

    # selectors

    def select(self, selector: object) -> list[tuple[LabelKey, dict[str, str], np.ndarray]]:
        if selector.offset is not None or selector.at is not None:
            raise Unsupported("offset and @ are not modelled")
        if selector.matchers.or_matchers:
            raise Unsupported("a selector with `or` matchers is not modelled")
        wanted = tuple((m.name, _MATCH_OPS[str(m.op).rsplit(".", 1)[-1]], m.value) for m in selector.matchers.matchers)
        key = (selector.name, wanted)
        if key not in self._selected:  # one query reads a selector at many windows: scan once
            if selector.name:
                rows = [row for row in self.by_name.get(selector.name, []) if _matches(row[1], wanted)]
            else:  # {__name__=~"a|b", ...}: every name the matchers accept, in label order as Prometheus reads
                rows = sorted((row for name in self.by_name for row in self.by_name[name] if _matches(row[1], wanted)),
                              key=lambda row: row[0])
            self._selected[key] = rows
        return self._selected[key]

    def _instant(self, selector: object, times: np.ndarray) -> Vector:
        out: Vector = {}
        index = np.floor(times / self.step).astype(int)
        for key, _, values in self.select(selector):
            at = np.clip(index, 0, len(values) - 1)
            present = (index >= 0) & (times - at * self.step <= LOOKBACK)
            out[key] = (np.where(present, values[at], math.nan), present)
        return out

    def _range(self, node: object, window: float) -> float:
        seconds = node.range.total_seconds()
        return window if seconds == WINDOW_SENTINEL else seconds

    def _call(self, call: object, times: np.ndarray, window: float) -> Vector:
        import promql_parser as pp

        name = call.func.name
        args = list(call.args)
        if name in ("rate", "increase") and len(args) == 1 and isinstance(args[0], pp.MatrixSelector):
            w = self._range(args[0], window)
            return _named_apart([(_without_name(key), rate_at(values, self.step, times, w, name == "rate"))
                                 for key, _, values in self.select(args[0].vector_selector)])
        if name in ("avg_over_time", "sum_over_time") and len(args) == 1 and isinstance(args[0], pp.MatrixSelector):
            reduce = incremental_mean if name == "avg_over_time" else kahan_sum
            w = self._range(args[0], window)
            pairs = []
            for key, _, values in self.select(args[0].vector_selector):
                column, present = [], []
                for t in times.tolist():
                    first = max(0, math.ceil((t - w) / self.step))
                    last = min(len(values) - 1, math.floor(t / self.step))
                    picked = values[first:last + 1].tolist() if last >= first else []
                    column.append(reduce(picked) if picked else math.nan)
                    present.append(bool(picked))
                pairs.append((_without_name(key), (np.array(column), np.array(present))))
            return _named_apart(pairs)
        if name in ("min_over_time", "max_over_time") and len(args) == 1:
            op = name[:3]
            if isinstance(args[0], pp.MatrixSelector):
                w = self._range(args[0], window)
                first = np.ceil((times - w) / self.step)
                grid = (first[:, None] + np.arange(int(w // self.step) + 1)[None, :]).astype(int)
                inside = grid * self.step <= times[:, None]
                pairs = []
                for key, _, values in self.select(args[0].vector_selector):
                    present = inside & (grid >= 0) & (grid < len(values))
                    v = np.where(present, values[np.clip(grid, 0, len(values) - 1)], math.nan)
                    pairs.append((_without_name(key), _reduce_min_max(v, present, op)))
                return _named_apart(pairs)
            if isinstance(args[0], pp.SubqueryExpr):
                return self._subquery(args[0], times, window, op)
        raise Unsupported(f"function {name}() is not modelled")

    def _subquery(self, sub: object, times: np.ndarray, window: float, op: str) -> Vector:
        if sub.offset is not None or sub.at is not None or sub.step is None:
            raise Unsupported("a subquery needs an explicit step and no offset")
        return self.over_time(sub.expr, times, window, self._range(sub, window), sub.step.total_seconds(), op)

    def over_time(self, expr: object, times: np.ndarray, window: float, span: float, step: float, op: str) -> Vector:
        """``<op>_over_time((expr)[span:step])``: ``expr`` at the multiples of ``step`` in [t - span, t]."""
        first = np.ceil((times - span) / step)
        sub_times = (first[:, None] + np.arange(int(span // step) + 1)[None, :]) * step
        inside = sub_times <= times[:, None]
        inner = self.evaluate(expr, sub_times.ravel(), window)
        if not isinstance(inner, dict):
            raise Unsupported("a subquery of a number is not modelled")
        shape = sub_times.shape
        return {_without_name(k): _reduce_min_max(v.reshape(shape), p.reshape(shape) & inside, op)
                for k, (v, p) in inner.items()}

    # aggregation and operators

    def _aggregate(self, agg: object, times: np.ndarray, window: float) -> Vector:
        import promql_parser as pp

        op = str(agg.op)
        if op not in ("sum", "min", "max", "avg", "count") or agg.param is not None:
            raise Unsupported(f"aggregation {op} is not modelled")
        inner = self.evaluate(agg.expr, times, window)
        if not isinstance(inner, dict):
            raise Unsupported("aggregating a number")
        modifier = agg.modifier
        labels = set(modifier.labels) if modifier is not None else set()
        by = modifier is None or modifier.type == pp.AggModifierType.By
        groups: dict[LabelKey, list[Sample]] = {}
        for key, sample in inner.items():
            if by:
                group = tuple(kv for kv in key if kv[0] in labels)
            else:
                group = tuple(kv for kv in key if kv[0] not in labels and kv[0] != "__name__")
            groups.setdefault(group, []).append(sample)
        return {group: _aggregate(op, members) for group, members in groups.items()}

    def _binary(self, expr: object, times: np.ndarray, window: float) -> Vector | np.ndarray:
        import promql_parser as pp

        op = str(expr.op)
        modifier = expr.modifier
        returns_bool = bool(modifier is not None and modifier.return_bool)
        if op not in _ARITHMETIC and op not in COMPARE:
            raise Unsupported(f"operator {op} is not modelled")
        lhs = self.evaluate(expr.lhs, times, window)
        rhs = self.evaluate(expr.rhs, times, window)
        fn = _ARITHMETIC.get(op) or COMPARE[op]
        comparison = op in COMPARE
        if not isinstance(lhs, dict) and not isinstance(rhs, dict):
            if comparison and not returns_bool:
                raise Unsupported("a comparison of numbers needs bool")
            with np.errstate(all="ignore"):
                value = fn(lhs, rhs)
            return value.astype(float)
        if isinstance(lhs, dict) and isinstance(rhs, dict):
            return self._vector_vector(lhs, rhs, fn, comparison, returns_bool, modifier, pp)
        vector, number, swapped = (lhs, rhs, False) if isinstance(lhs, dict) else (rhs, lhs, True)
        out: Vector = {}
        for key, (v, p) in vector.items():
            with np.errstate(all="ignore"):
                result = fn(number, v) if swapped else fn(v, number)
            out_key = key if comparison and not returns_bool else _without_name(key)
            out[out_key] = _binary_result(v, p, result, comparison, returns_bool)
        return out

    @staticmethod
    def _vector_vector(lhs: Vector, rhs: Vector, fn, comparison: bool, returns_bool: bool, modifier, pp) -> Vector:
        on, labels = False, set()
        if modifier is not None:
            if modifier.card != pp.VectorMatchCardinality.OneToOne:
                raise Unsupported("group_left/group_right are not modelled")
            if modifier.matching is not None:
                on = modifier.matching.type == pp.LabelModifierType.Include
                labels = set(modifier.matching.labels)

        def signature(key: LabelKey) -> LabelKey:
            if on:
                return tuple(kv for kv in key if kv[0] in labels)
            return tuple(kv for kv in key if kv[0] not in labels and kv[0] != "__name__")

        right: dict[LabelKey, Sample] = {}
        for key, sample in rhs.items():
            if signature(key) in right:
                raise Unsupported("many-to-many matching")
            right[signature(key)] = sample
        out: Vector = {}
        for key, (v, p) in lhs.items():
            match = right.get(signature(key))
            if match is None:
                continue
            rv, rp = match
            with np.errstate(all="ignore"):
                result = fn(v, rv)
            out_key = key if comparison and not returns_bool else _without_name(key)
            if on:
                out_key = tuple(kv for kv in out_key if kv[0] in labels)
            elif labels:
                out_key = tuple(kv for kv in out_key if kv[0] not in labels)
            if out_key in out:
                raise Unsupported("many-to-many matching")
            out[out_key] = _binary_result(v, p & rp, result, comparison, returns_bool)
        return out


def _named_apart(pairs: list[tuple[LabelKey, Sample]]) -> Vector:
    """A function's result without the metric names: series that differ only in their name make
    Prometheus fail the query ("vector cannot contain metrics with the same labelset")."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise Unsupported("series that differ only in their name meet in one function (Prometheus rejects that)")
    return out


def _binary_result(lhs_values: np.ndarray, present: np.ndarray, result: np.ndarray, comparison: bool,
                   returns_bool: bool) -> Sample:
    if not comparison:
        return _keep_first(result.astype(float), present), present
    if returns_bool:
        return np.where(present, result.astype(float), math.nan), present
    keep = present & result.astype(bool)
    return _keep_first(lhs_values, keep), keep


def _aggregate(op: str, members: list[Sample]) -> Sample:
    """One group of an aggregation, member by member in series order, as Prometheus does."""
    length = len(members[0][0])
    value = np.full(length, math.nan)
    count = np.zeros(length)
    for v, p in members:
        new = p & (count == 0)
        old = p & (count > 0)
        count = count + p
        if op == "sum":
            value = np.where(new, v, np.where(old, value + v, value))
        elif op == "avg":  # an incremental mean (Prometheus 2.x)
            with np.errstate(all="ignore"):
                mean = value + (v / np.maximum(count, 1) - value / np.maximum(count, 1))
            value = np.where(new, v, np.where(old, mean, value))
        elif op in ("min", "max"):
            better = (value > v) if op == "min" else (value < v)
            value = np.where(new, v, np.where(old & (better | np.isnan(value)), v, value))
    present = count > 0
    if op == "count":
        value = count.astype(float)
    return _keep_first(value, present), present


def _matches(labels: dict[str, str], matchers: Sequence[tuple[str, str, str]]) -> bool:
    import re

    for label, op, value in matchers:
        have = labels.get(label, "")
        if op == "=" and have != value or op == "!=" and have == value:
            return False
        if op in ("=~", "!~") and (re.fullmatch(value, have) is None) == (op == "=~"):
            return False
    return True
