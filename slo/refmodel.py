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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal


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


def _in_range(index: int, step: int, window: int) -> range:
    first = max(0, math.ceil((index * step - window) / step))
    return range(first, index + 1)


def _picked(series: Sequence[float | None], step: int, index: int, window: int) -> list[float]:
    """The samples of a recorded series in ``[t - window, t]`` (absent ones skipped), oldest first."""
    picked = series[_in_range(index, step, window).start:index + 1]
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


RateFn = Callable[[int, int], "float | None"]  # (sample index, window seconds) -> per-second rate


def summed_rate(counters: Sequence[Sequence[float]], step: int) -> RateFn:
    """``sum(rate(x[w]))`` over several series: absent only when every series is."""
    def rate(index: int, window: int) -> float | None:
        rates = [r for r in (prom_rate(c, step, index, window) for c in counters) if r is not None]
        return None if not rates else sum(rates[1:], rates[0])
    return rate


def difference_rate(total: RateFn, good: RateFn) -> RateFn:
    """``clamp_min(total - good, 0)``: bad events counted as all minus good."""
    def rate(index: int, window: int) -> float | None:
        a, b = total(index, window), good(index, window)
        return None if a is None or b is None else max(a - b, 0.0)
    return rate


class EventModel:
    """An event SLI of one model (or group): rates of bad and of all events, sampled every ``step``."""

    def __init__(self, errors: RateFn, events: RateFn, length: int, step: int, base: int) -> None:
        self.errors, self.events, self.step, self.base = errors, events, step, base
        self.error_rate = [errors(i, base) for i in range(length)]
        self.event_rate = [events(i, base) for i in range(length)]

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
            seen = [g[i] for g in gauges for i in _in_range(index, step, slice_seconds)]
            numbers = [v for v in seen if not math.isnan(v)]
            if not seen:
                self.bad.append(None)
            else:
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
