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
    return sum(picked) if picked else None


def avg_over_time(series: Sequence[float | None], step: int, index: int, window: int) -> float | None:
    picked = _picked(series, step, index, window)
    return sum(picked) / len(picked) if picked else None


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
        self.errors, self.events, self.step, self.base = errors, events, step, base
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
        self.bad: list[float | None] = []
        for index in range(len(gauges[0])):
            start = _in_range(index, step, slice_seconds).start
            numbers = [v for g in gauges for v in g[start:index + 1] if v == v]  # NaN != NaN
            self.bad.append(1.0 if numbers and max(numbers) > bad_above else 0.0)

    def ratio(self, window: Window, index: int) -> float | None:
        return avg_over_time(self.bad, self.step, index, window.seconds)

    def events_in(self, window: int, index: int) -> float | None:
        return None


def fires(model: EventModel | SliceModel, tier: Tier, budget: Decimal, index: int, min_events: int = 0) -> float | None:
    """The tier's alert value (burn rate over the long window) when it fires at ``index``, else None."""
    limit = float(tier.factor * budget)
    long_ratio = model.ratio(tier.long, index)
    short_ratio = model.ratio(tier.short, index)
    if long_ratio is None or short_ratio is None or not (long_ratio > limit and short_ratio > limit):
        return None
    if min_events > 0 and isinstance(model, EventModel):
        events = model.events_in(tier.short.seconds, index)
        if events is None or not events >= min_events:
            return None
    return long_ratio / float(budget)


def budget_remaining(model: EventModel | SliceModel, period: int, budget: Decimal, index: int) -> float | None:
    period_ratio = model.ratio(Window(period, raw=False), index)
    return None if period_ratio is None else 1 - period_ratio / float(budget)


def no_traffic(events: Sequence[float], step: int, index: int, window: int) -> bool:
    rate = prom_rate(events, step, index, window)
    return rate is not None and rate == 0


# --- whole-timeline scans (numpy): where alerts may start or stop --------------------------------
# Sums here come from cumulative sums, which round differently from Prometheus's running sums;
# they only pick the moments to check. What fires at a checked moment comes from ``fires``.


def _array(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def _window_sum(values: np.ndarray, step: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(sum, count) of the present samples in [t - window, t] at every sample."""
    present = ~np.isnan(values)
    sums = np.concatenate(([0.0], np.cumsum(np.where(present, values, 0.0))))
    counts = np.concatenate(([0], np.cumsum(present)))
    index = np.arange(len(values))
    first = np.maximum(0, -(-(index * step - window) // step))
    return sums[index + 1] - sums[first], counts[index + 1] - counts[first]


def _ratio_array(errors: np.ndarray, events: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(events > 0, errors / np.where(events > 0, events, 1.0), math.nan)


def ratio_array(model: EventModel | SliceModel, window: Window, length: int) -> np.ndarray:
    """The error ratio over a window at every sample (NaN: none)."""
    if isinstance(model, SliceModel):
        total, count = _window_sum(_array(model.bad), model.step, window.seconds)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), math.nan)
    if window.seconds == model.base:
        return _ratio_array(_array(model.error_rate), _array(model.event_rate))
    if window.raw:
        return _ratio_array(model.errors.array(window.seconds, length), model.events.array(window.seconds, length))
    errors, n_errors = _window_sum(_array(model.error_rate), model.step, window.seconds)
    events, n_events = _window_sum(_array(model.event_rate), model.step, window.seconds)
    return _ratio_array(np.where(n_errors > 0, errors, math.nan), np.where(n_events > 0, events, math.nan))


def fires_array(model: EventModel | SliceModel, tier: Tier, budget: Decimal, length: int,
                min_events: int = 0) -> np.ndarray:
    """Whether the tier fires, at every sample (approximately: see above)."""
    limit = float(tier.factor * budget)
    with np.errstate(invalid="ignore"):
        firing = (ratio_array(model, tier.long, length) > limit) & (ratio_array(model, tier.short, length) > limit)
        if min_events > 0 and isinstance(model, EventModel):
            rates = _array(model.event_rate)
            if tier.short.seconds == model.base:
                events = rates * model.base
            else:
                total, count = _window_sum(rates, model.step, tier.short.seconds)
                events = np.where(count > 0, total / np.maximum(count, 1), math.nan) * tier.short.seconds
            firing &= events >= min_events
    return firing
