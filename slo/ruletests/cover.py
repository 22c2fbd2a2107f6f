"""The full alert checks of a spec's tests: at which moments of which test each alert name is
checked in full (labels and annotations), chosen by a greedy cover.

promtool's alert checks list every alert of a name firing in the test, from every SLO that reads
its inputs. Each alert (SLO, tier, group) is checked in full once, at a moment chosen so that few
other alerts are listed with it.
"""

from __future__ import annotations

import bisect
import functools
import heapq
from dataclasses import dataclass

from triton_slo.rules import SloPlan
from triton_slo.ruletests.evaluator import Unsupported
from triton_slo.ruletests.expected import Firing, Reference
from triton_slo.ruletests.groups import SharedModels
from triton_slo.ruletests.index import SpecIndex
from triton_slo.ruletests.scenarios import Scenario


@dataclass
class SloCheck:
    """One SLO's checks in one merged test: which of its alerts fire at each checked moment."""

    plan: SloPlan
    alertname: str
    timeline: dict[int, set[Firing]]
    by: list[str]  # labels that tell its alerts apart (``count by``)

    @functools.cached_property
    def points(self) -> list[int]:
        return sorted(self.timeline)


def state_at(check: SloCheck, index: int) -> set[Firing]:
    """What the SLO fires at any moment: alerts change only at checked moments."""
    points = check.points
    at = bisect.bisect_right(points, index) - 1
    return check.timeline[points[at]] if at >= 0 else check.timeline[points[0]]


def greedy_cover(sets: list[set]) -> list[int]:
    """Indices of ``sets`` picked one by one until nothing new is left to cover: each time the set
    with the largest share of elements not yet covered (then the most of them, then the earlier).

    Lazy greedy: a set's score only falls as more is covered, so a popped score that is still
    current is the best.
    """
    covered: set = set()
    picked: list[int] = []

    def score(members: set) -> tuple[float, int]:
        fresh = len(members - covered)
        return fresh / len(members), fresh

    heap = [(-1.0, -len(members), i) for i, members in enumerate(sets)]
    heapq.heapify(heap)
    while heap:
        ratio, fresh, i = heapq.heappop(heap)
        now = score(sets[i])
        if (-now[0], -now[1]) != (ratio, fresh):
            heapq.heappush(heap, (-now[0], -now[1], i))
            continue
        if not now[1]:
            break
        covered |= sets[i]
        picked.append(i)
    return picked


def annotation_plan(index: SpecIndex, shared: SharedModels, built: list[tuple[Scenario, list[SloCheck]]],
                    unchecked: set[str], failed: set[str]) -> dict[tuple[int, str], set[int]]:
    """(test number, alert name) -> moments of full alert checks (labels and annotations).

    Candidates are, per test and alert name (but those ``unchecked``), the checked moment where
    most of its SLOs' alerts fire, with the alerts listed then; none where an SLO whose tests
    ``failed`` is listed. The greedy cover picks candidates until each alert (SLO, tier, group)
    was listed once, preferring those that list few alerts already seen.
    """
    candidates = []  # (test number, alertname, moment, alerts listed)
    for number, (test, checks) in enumerate(built):
        for alertname in sorted({c.alertname for c in checks} - unchecked):
            members = [c for c in checks if c.alertname == alertname]
            points = sorted({i for c in members for i in c.timeline})
            if not points:
                continue
            moment = max(points, key=lambda i, m=members: (sum(len(state_at(c, i)) for c in m), -i))
            try:
                listed = {f.labels for f in Reference(index, shared, test, [alertname]).timeline([moment])[moment]
                          if f.alertname == alertname}
            except Unsupported:
                continue  # a reader the model cannot evaluate there: the per-SLO checks remain
            if listed and not {dict(f).get("slo") for f in listed} & failed:
                candidates.append((number, alertname, moment, listed))
    chosen: dict[tuple[int, str], set[int]] = {}
    for i in greedy_cover([listed for _, _, _, listed in candidates]):
        number, alertname, moment, _ = candidates[i]
        chosen.setdefault((number, alertname), set()).add(moment)
    return chosen
