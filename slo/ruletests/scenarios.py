"""The traffic scenarios of an SLO's tests and the input series each writes.

Per SLO: a healthy period (half the budget burn), a slow burn (2x: tickets only), a fast burn (a
full outage after a clean history, then recovery: pages fire and clear), and, where configured,
low traffic (no page below ``min_events``) and silence (the no-traffic alert). Per-model SLIs
read Triton's or the exporter's series, written here; custom SLIs (ratio, timeslice) read the
user's own series, which their recipe (``custom.CustomSli``) writes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from triton_slo.burnrate import decimal_text, detection_seconds, reset_seconds
from triton_slo.model import AvailabilitySLI, LatencySLI
from triton_slo.names import (
    GOLDEN_CORRECT,
    GOLDEN_TOTAL,
    TRITON_REQUEST_FAILURE,
    TRITON_REQUEST_SUCCESS,
    TRITON_REQUEST_SUMMARY_US,
)
from triton_slo.promql import quote
from triton_slo.rules import SloPlan, no_traffic_rule
from triton_slo.ruletests.evaluator import PromQL

if TYPE_CHECKING:
    from triton_slo.ruletests.custom import CustomSli

STEP = 60  # the tests scrape and evaluate every minute
ANY_MODEL = ("model_a", "1")  # stands for "every model" when an SLO names none
REASONS = ("BACKEND", "OTHER", "REJECTED", "CANCELED")


@dataclass(eq=False)  # one series is one object: sets and dicts of series hold the object itself
class Series:
    labels: dict[str, str]  # with __name__
    values: list[float]
    counter: bool = True  # else a gauge
    _text: str = field(default="", repr=False)

    def text(self) -> str:
        """The series as promtool's input names it (made once: labels are not changed after)."""
        if not self._text:
            name = self.labels["__name__"]
            rest = ", ".join(f"{k}={quote(v)}" for k, v in self.labels.items() if k != "__name__")
            self._text = f"{name}{{{rest}}}"
        return self._text


@dataclass(eq=False)
class Scenario:
    """One scenario's inputs (of one SLO, or of many merged into one promtool test), and what the
    reference model worked out from them, kept with them (``expected`` fills these in)."""

    name: str
    series: list[Series]
    length: int  # samples
    checks: set[int] = field(default_factory=set)  # sample indices to check
    # (start, end) index ranges inside which an alert changes state at most once
    monotone: list[tuple[int, int]] = field(default_factory=list)
    # per SLO name: the reference model of each group it reads; its burn-rate alerts' rows and state
    # matrices; per (SLO name, window): the traffic of each group
    models: dict[str, dict] = field(default_factory=dict, repr=False)
    burn_states: dict[str, tuple] = field(default_factory=dict, repr=False)
    traffic: dict[tuple[str, int], dict] = field(default_factory=dict, repr=False)
    _engine: PromQL | None = field(default=None, repr=False)
    _by_name: dict[tuple[str, str | None], list[Series]] | None = field(default=None, repr=False)

    def named(self, name: str, model: str | None = None) -> list[Series]:
        """The input series of a metric (and of one model)."""
        if self._by_name is None:
            self._by_name = {}
            for s in self.series:
                self._by_name.setdefault((s.labels["__name__"], None), []).append(s)
                self._by_name.setdefault((s.labels["__name__"], s.labels.get("model", "")), []).append(s)
        return self._by_name.get((name, model), [])

    def engine(self) -> PromQL:
        """The scenario's inputs for the PromQL reference model (built once)."""
        if self._engine is None:
            self._engine = PromQL([(s.labels, s.values) for s in self.series], STEP)
        return self._engine


def model_groups(p: SloPlan) -> list[tuple[str, str]]:
    """(model, version) of every group the SLO's series are written for."""
    models = p.spec.models_of(p.slo)
    if not models:
        return [ANY_MODEL]
    return [(m.name, v) for m in models for v in (m.versions or ("1",))]


def counter(increments: list[int]) -> list[float]:
    """Samples of a counter that starts at zero and grows by ``increments[i]`` up to sample i."""
    return [float(v) for v in itertools.accumulate(increments[1:], initial=0)]


def event_series(p: SloPlan, good: list[int], bad: list[int]) -> list[Series]:
    """Counters of one SLI kind for every model of the SLO: ``good`` and ``bad`` events per sample."""
    sli, service = p.slo.sli, p.spec.service
    total = [g + b for g, b in zip(good, bad, strict=True)]
    out = []
    for model, version in model_groups(p):
        ids = {"model": model, "version": version}
        if isinstance(sli, AvailabilitySLI):
            base = {**service.triton_selector, **ids}
            reason = next((r for r in REASONS if r not in sli.exclude_reasons), "INTERNAL")
            failure = {"reason": reason} if sli.exclude_reasons else {}
            out.append(Series({"__name__": TRITON_REQUEST_SUCCESS, **base}, counter(good)))
            out.append(Series({"__name__": TRITON_REQUEST_FAILURE, **base, **failure}, counter(bad)))
            for excluded in sli.exclude_reasons[:1]:  # failures the SLO ignores: must not count
                out.append(Series({"__name__": TRITON_REQUEST_FAILURE, **base, "reason": excluded}, counter(total)))
        elif isinstance(sli, LatencySLI):
            base = {**(service.exporter_selector if sli.metric.startswith("triton_slo_") else
                       service.triton_selector), **ids}
            bound = Decimal(repr(sli.threshold_seconds)) * {"s": 1, "ms": 1000, "us": 1000000}[sli.metric_unit]
            out.append(Series({"__name__": f"{sli.metric}_bucket", **base, "le": decimal_text(bound)},
                              counter(good)))
            out.append(Series({"__name__": f"{sli.metric}_count", **base}, counter(total)))
        else:  # accuracy
            base = {**service.exporter_selector, **ids}
            out.append(Series({"__name__": GOLDEN_CORRECT, **base}, counter(good)))
            out.append(Series({"__name__": GOLDEN_TOTAL, **base}, counter(total)))
    return out


def summary_series(p: SloPlan, quantiles: list[float], requests: list[int] | None) -> list[Series]:
    """Summary quantiles of every model, and its request counters where the test watches traffic
    (without them the SLO's scenarios share tests with availability SLOs of the same models)."""
    sli, service = p.slo.sli, p.spec.service
    out = []
    for model, version in model_groups(p):
        base = {**service.triton_selector, "model": model, "version": version}
        quantile = decimal_text(Decimal(repr(sli.quantile)))
        out.append(Series({"__name__": TRITON_REQUEST_SUMMARY_US, **base, "quantile": quantile}, quantiles, False))
        if requests is None:
            continue
        out.append(Series({"__name__": TRITON_REQUEST_SUCCESS, **base}, counter(requests)))
        out.append(Series({"__name__": TRITON_REQUEST_FAILURE, **base}, counter([0] * len(requests))))
    return out


def rate_per_sample(budget: Decimal) -> int:
    """Events per sample: enough that half the budget is a whole number of bad events."""
    return max(100, int(math.ceil(200 / float(budget))))


def steps(seconds: float) -> int:
    """Samples that cover ``seconds``."""
    return int(math.ceil(seconds / STEP))


def scenarios(p: SloPlan, custom: CustomSli | None = None) -> list[Scenario]:
    """The input scenarios of one SLO (``custom``: how to write a ratio or timeslice SLO's series)."""
    budget = p.budget
    longest_page = max([t.long_window for t in p.tiers if t.severity == "critical"] or [p.base])
    clean = steps(longest_page) + 1  # the Workbook's timings assume a full clean long window
    detect = [detection_seconds(t, budget, p.base, p.base) or 0 for t in p.tiers]
    resets = [reset_seconds(t, budget, p.base) or 0 for t in p.tiers if t.severity == "critical"]
    outage = steps(max(detect or [0])) + 5
    recovery = steps(max(resets or [p.base])) + 5
    fast_len = clean + outage + recovery
    out = []

    def events(good: list[int], bad: list[int]) -> list[Series]:
        return custom.event_series(good, bad) if custom else event_series(p, good, bad)

    if p.queries.slices:
        limit = p.queries.slice_limit

        def slices(flags: list[int | None], requests: list[int] | None = None) -> list[Series]:
            """Inputs from each sample's verdict: 1 bad, 0 good, None no requests (summary NaN, not bad)."""
            if custom:
                return custom.slice_series(flags)
            gauge = [math.nan if f is None else limit * 2 if f else limit / 2 for f in flags]
            return summary_series(p, gauge, requests)

        slice_steps = max(1, steps(custom.slice_seconds if custom else p.queries.slice_seconds))
        healthy = [None if i % 7 == 3 else 0 for i in range(60)]
        every = max(2, round((slice_steps + 1) / (2 * float(budget))))
        slow = [1 if i % every == 0 else 0 for i in range(max(120, 3 * every))]
        fast = [1 if clean <= i < clean + outage else 0 for i in range(fast_len)]
        out.append(Scenario("healthy", slices(healthy), len(healthy),
                            {30, len(healthy) - 1}))
        out.append(Scenario("slow burn", slices(slow), len(slow),
                            {len(slow) // 2, len(slow) - 1}))
        out.append(Scenario("fast burn", slices(fast), fast_len,
                            {clean - 1, fast_len - 1}, [(clean, clean + outage), (clean + outage, fast_len)]))
    else:
        rate = rate_per_sample(budget)
        half = int(round(rate * float(budget) / 2))
        double = int(round(rate * float(budget) * 2))
        n = 30
        out.append(Scenario("healthy", events([rate - half] * n, [half] * n), n, {15, n - 1}))
        n = 60
        out.append(Scenario("slow burn", events([rate - double] * n, [double] * n), n, {30, n - 1}))
        bad = [rate if clean <= i < clean + outage else 0 for i in range(fast_len)]
        good = [rate - b for b in bad]
        out.append(Scenario("fast burn", events(good, bad), fast_len, {clean - 1, fast_len - 1},
                            [(clean, clean + outage), (clean + outage, fast_len)]))
        min_events = p.slo.alerting.min_events
        base_steps = max(1, p.base // STEP)
        if min_events > 0 and (min_events - 1) // base_steps >= 1:
            few = (min_events - 1) // base_steps  # fewer than min_events in the base window
            n = 30
            out.append(Scenario("low traffic", events([0] * n, [few] * n), n, {15, n - 1}))
    silence_for = p.slo.alerting.no_traffic_for
    if silence_for and no_traffic_rule(p):
        busy, quiet = 30, steps(silence_for) + 5
        n = busy + quiet
        if p.queries.slices:
            series = summary_series(p, [p.queries.slice_limit / 2] * n, [100 if i < busy else 0 for i in range(n)])
        else:
            rate = rate_per_sample(budget)
            series = events([rate if i < busy else 0 for i in range(n)], [0] * n)
        out.append(Scenario("silence", series, n, {busy - 1, n - 1}, [(busy, n)]))
    return out
