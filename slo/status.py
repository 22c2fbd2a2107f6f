"""SLO status on demand from any Prometheus-compatible query API.

Reads the raw series (not our recording rules, which may not be deployed where the query API
points): the period error ratio as ``errors(period) / events(period)`` (a ratio of increases,
traffic-weighted; a precomputed error ratio is averaged over time), the error ratio over every
alert window, and from those the budget left, the burn rates and the tiers that would fire now.
A query without an answer is reported as "no data", never as zero.
"""

from __future__ import annotations

import calendar
import time as _time
from dataclasses import dataclass, field

from triton_slo.burnrate import decimal_text, threshold
from triton_slo.durations import format_duration
from triton_slo.model import SLO, Spec
from triton_slo.promapi import PromAPI
from triton_slo.rules import SloPlan, spec_rules


@dataclass
class GroupStatus:
    """One model/version (or custom group) of an SLO."""

    labels: dict[str, str]
    error_ratio: float | None = None  # over the period
    burn_rates: dict[str, float | None] = field(default_factory=dict)  # window text -> burn rate
    firing: list[str] = field(default_factory=list)  # tier names that would fire now

    def sli(self) -> float | None:
        return None if self.error_ratio is None else 1 - self.error_ratio


@dataclass
class SloStatus:
    slo: SLO
    window_text: str
    period_seconds: int
    groups: list[GroupStatus]
    no_data: bool

    def remaining(self, group: GroupStatus) -> float | None:
        if group.error_ratio is None:
            return None
        return 1 - group.error_ratio / float(self.slo.error_budget)

    def remaining_seconds(self, group: GroupStatus) -> float | None:
        """Budget left as time at a full outage: the downtime the SLO still allows."""
        left = self.remaining(group)
        return None if left is None else left * float(self.slo.error_budget) * self.period_seconds

    @property
    def exhausted(self) -> bool:
        return any((r := self.remaining(g)) is not None and r <= 0 for g in self.groups)


def period_seconds(slo: SLO, now: float) -> int:
    """The rolling window, or the time since the start of the calendar month (UTC)."""
    if not slo.window.calendar:
        return slo.window.seconds
    t = _time.gmtime(now)
    start = calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0))
    return max(60, int(now - start))


def ratio_query(p: SloPlan, window: int, evaluation_interval: int, period: bool = False) -> str:
    """The error ratio over a window straight from the raw series."""
    q = p.queries
    if q.slices:
        step = format_duration(min(window, max(evaluation_interval, 1)))
        return f"avg_over_time(({q.bad_slice})[{format_duration(window)}:{step}])"
    if q.error_ratio is not None:
        if not period:
            return q.error_ratio(window)
        # As the rules do: the time average of the base-window ratio (no counts to weigh it by),
        # here of back-to-back base windows, which reads each raw sample about once.
        base = format_duration(min(p.base, window))
        return f"avg_over_time(({q.error_ratio(min(p.base, window))})[{format_duration(window)}:{base}])"
    return f"({q.errors(window)})\n/\n(({q.events(window)}) > 0)"


def events_query(p: SloPlan, window: int) -> str:
    return f"({p.queries.events(window)}) * {window}"


def _key(labels: dict[str, str], group_labels: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(labels.get(k, "") for k in group_labels)


def slo_status(api: PromAPI, p: SloPlan, now: float, evaluation_interval: int) -> SloStatus:
    """An SLO's budgets and burn rates now, read from the series its rules (made from ``p``) record."""
    slo = p.slo
    group_labels = p.queries.group_labels
    period = period_seconds(slo, now)
    groups: dict[tuple[str, ...], GroupStatus] = {}

    def group(labels: dict[str, str]) -> GroupStatus:
        key = _key(labels, group_labels)
        if key not in groups:
            groups[key] = GroupStatus({k: v for k, v in zip(group_labels, key, strict=True) if v})
        return groups[key]

    for sample in api.query(ratio_query(p, period, evaluation_interval, period=True), now):
        group(sample.labels).error_ratio = sample.value
    windows = sorted({w for t in p.tiers for w in (t.long_window, t.short_window)})
    ratios: dict[int, dict[tuple[str, ...], float]] = {}
    for window in windows:
        ratios[window] = {_key(s.labels, group_labels): s.value
                          for s in api.query(ratio_query(p, window, evaluation_interval), now)}
        for key in ratios[window]:
            if key not in groups:
                group(dict(zip(group_labels, key, strict=True)))
    events: dict[int, dict[tuple[str, ...], float]] = {}
    if slo.alerting.min_events and p.queries.events is not None:
        for window in sorted({t.short_window for t in p.tiers}):
            events[window] = {_key(s.labels, group_labels): s.value for s in api.query(events_query(p, window), now)}
    budget = float(slo.error_budget)
    for key, status in groups.items():
        for window in windows:
            value = ratios[window].get(key)
            status.burn_rates[format_duration(window)] = None if value is None else value / budget
        for tier in p.tiers:
            limit = float(threshold(tier.factor, slo.error_budget))
            long_ratio, short_ratio = ratios[tier.long_window].get(key), ratios[tier.short_window].get(key)
            if long_ratio is None or short_ratio is None or not (long_ratio > limit and short_ratio > limit):
                continue
            if events and not events[tier.short_window].get(key, 0) >= slo.alerting.min_events:
                continue
            status.firing.append(f"{tier.name} ({tier.severity})")
    ordered = [groups[k] for k in sorted(groups)]
    return SloStatus(slo, slo.window.text, period, ordered,
                     no_data=not any(g.error_ratio is not None for g in ordered))


def spec_status(api: PromAPI, spec: Spec, now: float | None = None, evaluation_interval: int = 30) -> list[SloStatus]:
    now = _time.time() if now is None else now
    return [slo_status(api, p, now, evaluation_interval) for p in spec_rules(spec, evaluation_interval).plans]


# --- output ----------------------------------------------------------------------------------


def _pct(value: float | None, digits: int = 3) -> str:
    return "no data" if value is None else f"{value * 100:.{digits}f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "no data"
    if seconds in (float("inf"), float("-inf")):
        return "∞" if seconds > 0 else "-∞"
    sign = "-" if seconds < 0 else ""
    return sign + format_duration(int(round(abs(seconds)))) if abs(seconds) >= 1 else "0s"


def _finite(value: float | None) -> float | None:
    return None if value is None or value != value or value in (float("inf"), float("-inf")) else value


def as_json(spec: Spec, statuses: list[SloStatus]) -> dict:
    slos = []
    for s in statuses:
        slos.append({
            "slo": s.slo.name,
            "sli_kind": s.slo.sli.kind,
            "objective": decimal_text(s.slo.objective_ratio),
            "window": s.window_text,
            "period_seconds": s.period_seconds,
            "no_data": s.no_data,
            "exhausted": s.exhausted,
            "groups": [{
                "labels": g.labels,
                "sli": _finite(g.sli()),
                "error_ratio": _finite(g.error_ratio),
                "budget_remaining_ratio": _finite(s.remaining(g)),
                "budget_remaining_seconds": _finite(s.remaining_seconds(g)),
                "burn_rates": {w: _finite(b) for w, b in g.burn_rates.items()},
                "would_fire": g.firing,
            } for g in s.groups],
        })
    return {"service": spec.service.name, "slos": slos}


def as_table(spec: Spec, statuses: list[SloStatus]) -> str:
    header = ("SLO", "GROUP", "SLI", "OBJECTIVE", "BUDGET LEFT", "LEFT (TIME)", "BURN RATES", "WOULD FIRE")
    rows = []
    for s in statuses:
        if not s.groups:
            rows.append((s.slo.name, "-", "no data", f"{s.slo.objective}% / {s.window_text}", "no data", "no data",
                         "no data", "-"))
            continue
        for g in s.groups:
            burns = " ".join(f"{w}={'no data' if b is None else f'{b:.2f}'}" for w, b in g.burn_rates.items())
            rows.append((
                s.slo.name,
                " ".join(f"{k}={v}" for k, v in g.labels.items()) or "-",
                _pct(g.sli()),
                f"{s.slo.objective}% / {s.window_text}",
                _pct(s.remaining(g), 1),
                _duration(s.remaining_seconds(g)),
                burns or "-",
                ", ".join(g.firing) or "-",
            ))
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    lines = [f"service {spec.service.name}"]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in (header, *rows)]
    return "\n".join(lines)
