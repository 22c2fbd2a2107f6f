"""Merging scenarios into promtool tests, and splitting a spec's SLOs between processes.

promtool evaluates every rule of the file at every step of every test, so the cost of the tests
grows with (tests x steps x rules). The scenarios of SLOs whose inputs do not collide share one
test (the shorter ones continue their last phase to the test's length); each SLO is still
checked at its own moments, on its own alerts (``ALERTS{slo=...}``).
"""

from __future__ import annotations

from triton_slo.rules import SloPlan
from triton_slo.ruletests.scenarios import Scenario, Series


def padded(series: Series, length: int) -> Series:
    """The series continued to ``length`` samples: a counter at its last rate, a gauge at its last value."""
    values = series.values
    missing = length - len(values)
    if missing <= 0:
        return series
    if series.counter:
        step = values[-1] - values[-2] if len(values) > 1 else 0.0
        extra = [values[-1] + step * (k + 1) for k in range(missing)]
    else:
        extra = [values[-1]] * missing
    return Series(series.labels, values + extra, series.counter)


def pack(items: list[tuple[SloPlan, Scenario]]) -> list[list[tuple[SloPlan, Scenario]]]:
    """First-fit packing of one scenario of many SLOs into tests whose input series do not collide
    (a series two SLOs write with the same values is written once, and drives both)."""
    buckets: list[tuple[dict[str, tuple], list[tuple[SloPlan, Scenario]]]] = []
    for p, scenario in items:
        mine = {s.text(): tuple(s.values) for s in scenario.series}
        for taken, members in buckets:
            if all(taken.get(text, values) == values for text, values in mine.items()):
                taken.update(mine)
                members.append((p, scenario))
                break
        else:
            buckets.append((dict(mine), [(p, scenario)]))
    return [members for _, members in buckets]


def merge(name: str, members: list[tuple[SloPlan, Scenario]]) -> Scenario:
    """One promtool test's inputs: the members' series, each written once, continued to the longest."""
    length = max(scenario.length for _, scenario in members)
    series: dict[str, Series] = {}
    for _, scenario in members:
        for s in scenario.series:
            series.setdefault(s.text(), padded(s, length))
    return Scenario(name, list(series.values()), length)


def partition(plans: list[SloPlan], parts: int) -> list[set[str]]:
    """SLO names split into ``parts`` of about equal work, SLOs of one shape (kind, objective,
    window: tests they can share) kept together; the same split every time."""
    shapes: dict[tuple, list[str]] = {}
    for p in plans:
        key = (p.queries.kind, p.queries.per_model, str(p.slo.objective), p.period, p.slo.alerting.min_events)
        shapes.setdefault(key, []).append(p.slo.name)
    out: list[set[str]] = [set() for _ in range(parts)]
    for members in sorted(shapes.values(), key=len, reverse=True):
        min(out, key=len).update(members)
    return out
