"""The reference model of the SLO rules, in plain Python and numpy, for the generated tests.

It computes, from sampled counters or gauges, what the SLO rules are specified to compute
(``triton_slo.rules`` describes it): error ratios over raw windows with Prometheus 2.x ``rate()``
semantics (closed range, extrapolation), ratios of sums of recorded base-window rates, the
average of a bad-slice indicator, burn rates, budget left, and which burn-rate tiers fire. It
never reads or runs a rule: the generated promtool tests compare the two.

Everything is sampled on one grid: scrapes and rule evaluations both happen every ``step``
seconds, at ``0, step, 2*step, ...``. A model keeps what it worked out (arrays, running sums,
ratios over windows, and the decisions the tests ask of it) as its own state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from triton_slo.ruletests.prometheus import avg_over_time, prom_rate, prom_rates, sum_over_time


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


class Kept:
    """What a model worked out, kept with it: its per-sample lists as arrays and their running
    sums, its error ratio over each window, and the decisions the tests asked of it (``decisions``:
    ``expected`` keys them by what was asked)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.prefix: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.ratios: dict[Window, np.ndarray] = {}
        self.decisions: dict[tuple, object] = {}


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
        self.kept = Kept()

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
        self.kept = Kept()

    @classmethod
    def from_bad(cls, bad: list[float | None], step: int) -> SliceModel:
        """A slice SLI whose verdicts (1 bad, 0 good, None absent) were computed elsewhere."""
        model = cls.__new__(cls)
        model.step, model.bad, model.length = step, bad, len(bad)
        model.kept = Kept()
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


# --- whole-timeline scans (numpy): where alerts may start or stop --------------------------------
# Sums here come from cumulative sums, which round differently from Prometheus's running sums;
# they only pick the moments to check. What fires at a checked moment comes from ``fires``.


def _array(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def _model_array(model: EventModel | SliceModel, name: str) -> np.ndarray:
    """A model's per-sample list (``error_rate``, ``event_rate``, ``bad``) as an array, made once."""
    cache = model.kept.arrays
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
    cache = model.kept.prefix
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
    cache = model.kept.ratios
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
