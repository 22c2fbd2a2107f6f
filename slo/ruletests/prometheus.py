"""Prometheus 2.x's own arithmetic, for the reference model: ``rate()`` with its extrapolation over
closed ranges, and the compensated sums and means of ``sum_over_time``/``avg_over_time``.

Counters and recorded series are sampled on one grid: ``values[i]`` is the sample at ``i * step``
seconds. Results are rounded as Prometheus rounds them (the tests compare at thresholds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def in_range(index: int, step: int, window: int) -> range:
    """The sample indices in ``[t - window, t]`` at sample ``index``."""
    first = max(0, math.ceil((index * step - window) / step))
    return range(first, index + 1)


def picked_samples(series: Sequence[float | None], step: int, index: int, window: int) -> list[float]:
    """The samples of a recorded series in ``[t - window, t]`` (absent ones skipped), oldest first."""
    start = in_range(index, step, window).start
    while start <= index and series[start] is None:  # a rule records nothing before two samples
        start += 1
    picked = series[start:index + 1]
    return picked if None not in picked else [v for v in picked if v is not None]


def sum_over_time(series: Sequence[float | None], step: int, index: int, window: int) -> float | None:
    values = picked_samples(series, step, index, window)
    return kahan_sum(values) if values else None


def kahan_step(inc: float, total: float, c: float) -> tuple[float, float]:
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
        total, c = kahan_step(v, total, c)
    return total if math.isinf(total) else total + c


def incremental_mean(values: Sequence[float]) -> float:
    """``avg_over_time`` as Prometheus 2.x computes it (a compensated incremental mean); the
    rounding matters at thresholds: a plain 6/20 is 0.3, not above a 0.3 threshold."""
    mean, c, count = 0.0, 0.0, 0.0
    for v in values:
        count += 1
        mean, c = kahan_step(v / count - mean / count, mean, c)
    return mean if math.isinf(mean) else mean + c


def avg_over_time(series: Sequence[float | None], step: int, index: int, window: int) -> float | None:
    values = picked_samples(series, step, index, window)
    return incremental_mean(values) if values else None


def rate_at(values: np.ndarray, step: int, times: np.ndarray, window: float,
            per_second: bool) -> tuple[np.ndarray, np.ndarray]:
    """``rate(x[window])`` (or ``increase``) of a counter sampled every ``step`` s from 0, at any times:
    (values, present)."""
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

