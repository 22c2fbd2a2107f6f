"""Which alerts the reference model expects to fire for a test's inputs, and when.

Computed from the same input samples, never by running the rules: per SLO and group a row per
burn-rate alert (a state per sample, from whole-timeline arrays; samples near a threshold are
decided by the exact sums) and per watched traffic group a no-traffic row. The checked moments
are those where an alert starts or stops firing and the evaluation just before (``check_points``),
so a rule that fires one evaluation early or late fails its test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from triton_slo.names import NO_TRAFFIC
from triton_slo.rules import SloPlan
from triton_slo.ruletests import refmodel
from triton_slo.ruletests.annotations import ambiguous, annotations, humanize_percentage, render
from triton_slo.ruletests.evaluator import LabelKey
from triton_slo.ruletests.groups import Model, SharedModels, by_group, models_of, selected
from triton_slo.ruletests.index import PlanFacts, SpecIndex
from triton_slo.ruletests.scenarios import STEP, Scenario


@dataclass(frozen=True)
class Firing:
    alertname: str
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...]


# Decisions asked of a model again and again, kept with it (``refmodel.Kept.decisions``): SLOs
# that share a model share them.

def fires_at(model: Model, tier: refmodel.Tier, budget: Decimal, index: int, min_events: int) -> float | None:
    """``refmodel.fires`` (not exact: the decision is, the value within ``refmodel.NEAR``)."""
    memo, key = model.kept.decisions, ("fires", tier, budget, index, min_events)
    if key not in memo:
        memo[key] = refmodel.fires(model, tier, budget, index, min_events)
    return memo[key]


def fires_states(model: Model, tier: refmodel.Tier, budget: Decimal, length: int,
                 min_events: int) -> tuple[np.ndarray, np.ndarray]:
    """``refmodel.fires_states``: (firing, unsure) at every sample."""
    memo, key = model.kept.decisions, ("states", tier, budget, length, min_events)
    if key not in memo:
        memo[key] = refmodel.fires_states(model, tier, budget, length, min_events)
    return memo[key]


def budget_left_at(model: Model, period: int, budget: Decimal, index: int) -> float | None:
    """``refmodel.budget_remaining`` from the whole-timeline arrays."""
    memo, key = model.kept.decisions, ("budget", period, budget, index)
    if key not in memo:
        memo[key] = refmodel.budget_remaining(model, period, budget, index, exact=False)
    return memo[key]


class Reference:
    """What SLOs make fire for one test's inputs: ``plans`` (default: every SLO of the spec that
    reads them), for the alerts named."""

    def __init__(self, index: SpecIndex, shared: SharedModels, scenario: Scenario, alertnames: list[str],
                 plans: list[SloPlan] | None = None) -> None:
        self.index = index
        self.scenario = scenario
        self.burning, self.watching = [], []
        readers = index.readers(scenario.series) if plans is None else plans
        for p in readers:
            facts = index.facts(p)
            if facts.alertname in alertnames:
                self.burning.append((p, facts, models_of(scenario, p, index.custom.get(p.slo.name), shared)))
        self.custom = index.custom
        self.budget_lag = index.budget_lag
        self._states: tuple | None = None
        if NO_TRAFFIC in alertnames:
            chosen = None if plans is None else {p.slo.name for p in plans}
            self.watching = [(p, r) for p, r in index.watching if chosen is None or p.slo.name in chosen]

    def group_labels(self) -> list[str]:
        """The labels that tell the alerts of one SLO apart, besides ``tier``."""
        names = {k for _, _, models in self.burning for key in models for k, _ in key}
        for p, _ in self.watching:
            if p.slo.name in self.custom:
                names |= {k for key in self._traffic(p, p.slo.alerting.no_traffic_for) for k, _ in key}
            else:
                names |= {"model", "version"}
        return sorted(names)

    def firing(self, index: int) -> set[Firing]:
        """Which alerts fire at ``index``, with their annotations as Prometheus fills them in."""
        out: set[Firing] = set()
        for p, facts, models in self.burning:
            budget, min_events = facts.budget, facts.min_events
            for group, model in models.items():
                series_labels = {**dict(group), **facts.labels}  # a recording rule's labels win
                at = index - self.budget_lag.get(p.slo.name, 0)
                remaining = budget_left_at(model, p.period, budget, at) if at >= 0 else None
                if remaining is not None and ambiguous(humanize_percentage, remaining):
                    remaining = refmodel.budget_remaining(model, p.period, budget, at)
                left = "unknown" if remaining is None else humanize_percentage(remaining)
                for tier, rule in zip(facts.tiers, facts.burn_rules, strict=True):
                    value = fires_at(model, tier, budget, index, min_events)
                    if value is None:
                        continue
                    if ambiguous(lambda v: f"{v:.2f}", value):
                        value = refmodel.fires(model, tier, budget, index, min_events, exact=True)
                    labels = {**series_labels, **rule["labels"]}
                    filled = annotations(rule, lambda t, lb=labels, v=value, b=left, bt=facts.budget_template:
                                         render(t, lb, v, b, bt))
                    out.add(Firing(facts.alertname, tuple(sorted(labels.items())), filled))
        for p, rule in self.watching:
            out |= self._no_traffic(p, rule, index, annotate=True)
        return out

    def states(self) -> tuple[list, np.ndarray, np.ndarray]:
        """(rows, firing, unsure): one row per burn-rate alert and per watched traffic group, a
        column per sample (built once); ``unsure`` cells are decided by ``refmodel.fires``."""
        if self._states is None:
            length = self.scenario.length
            rows, firing, unsure = [], [], []
            for p, facts, models in self.burning:
                burn = self.scenario.burn_states.get(p.slo.name)
                if burn is None:
                    burn = self.scenario.burn_states[p.slo.name] = burn_states(facts, models, length)
                rows += burn[0]
                firing.append(burn[1])
                unsure.append(burn[2])
            for p, _ in self.watching:
                for rates in self._traffic(p, p.slo.alerting.no_traffic_for).values():
                    firing.append((rates == 0)[None, :])
                    unsure.append(np.zeros((1, length), dtype=bool))
            self._states = (rows, np.concatenate(firing or [np.zeros((0, length), dtype=bool)]),
                            np.concatenate(unsure or [np.zeros((0, length), dtype=bool)]))
        return self._states

    def timeline(self, points: list[int]) -> dict[int, set[Firing]]:
        """Which alerts fire at each of ``points`` (labels only, no annotations)."""
        rows, firing, unsure = self.states()
        out = {}
        for index in points:
            found = set()
            for r in np.flatnonzero(firing[: len(rows), index] | unsure[: len(rows), index]).tolist():
                alert, model, tier, budget, min_events = rows[r]
                if not unsure[r, index] or fires_at(model, tier, budget, index, min_events) is not None:
                    found.add(alert)
            for p, rule in self.watching:
                found |= self._no_traffic(p, rule, index, annotate=False)
            out[index] = found
        return out

    def _traffic(self, p: SloPlan, window: int) -> dict[LabelKey, np.ndarray]:
        """Events per second over ``window`` of each group the SLO reads, at every sample (NaN: absent),
        kept with the scenario."""
        key = (p.slo.name, window)
        if key not in self.scenario.traffic:
            self.scenario.traffic[key] = self._traffic_rates(p, window)
        return self.scenario.traffic[key]

    def _traffic_rates(self, p: SloPlan, window: int) -> dict[LabelKey, np.ndarray]:
        length = self.scenario.length
        custom = self.custom.get(p.slo.name)
        if custom is not None:
            events = custom.events(self.scenario.engine(), np.arange(length, dtype=float) * STEP)
            return {key: np.where(present, values, math.nan) for key, (values, present) in events(window).items()}
        found = selected(p.queries.traffic_sets, self.scenario)
        return {group: refmodel.summed_rate([c.values for c in counters], STEP).array(window, length)
                for group, counters in by_group(found).items()}

    def _no_traffic(self, p: SloPlan, rule: dict, index: int, annotate: bool) -> set[Firing]:
        out = set()
        for group, rates in self._traffic(p, p.slo.alerting.no_traffic_for).items():
            if rates[index] == 0:
                out.add(self._no_traffic_firing(p, rule, dict(group), annotate))
        for matchers in p.queries.absent_sets:
            if not selected((matchers,), self.scenario):
                out.add(self._no_traffic_firing(p, rule, {k: v for k, op, v in matchers if k != "__name__"}, annotate))
        return out

    def _no_traffic_firing(self, p: SloPlan, rule: dict, expr_labels: dict[str, str], annotate: bool) -> Firing:
        labels = {**expr_labels, **rule["labels"]}
        if annotate:
            template = self.index.facts(p).budget_template
            filled = annotations(rule, lambda t: render(t, labels, 0.0, "", template))
        else:
            filled = ()
        return Firing(NO_TRAFFIC, tuple(sorted(labels.items())), filled)


def burn_states(facts: PlanFacts, models: dict, length: int) -> tuple[list, np.ndarray, np.ndarray]:
    """An SLO's burn-rate alerts in one test: (rows, firing, unsure), a row per (group, tier)."""
    rows, firing, unsure = [], [], []
    for group, model in models.items():
        series_labels = {**dict(group), **facts.labels}  # a recording rule's labels win
        for tier, rule in zip(facts.tiers, facts.burn_rules, strict=True):
            labels = tuple(sorted({**series_labels, **rule["labels"]}.items()))
            rows.append((Firing(facts.alertname, labels, ()), model, tier, facts.budget, facts.min_events))
            fires, near = fires_states(model, tier, facts.budget, length, facts.min_events)
            firing.append(fires)
            unsure.append(near)
    shape = (len(rows), length)
    return rows, np.array(firing, dtype=bool).reshape(shape), np.array(unsure, dtype=bool).reshape(shape)


def check_points(ref: Reference, scenario: Scenario, end: int | None = None) -> list[int]:
    """Every moment an alert starts or stops, and the evaluation before; the end when nothing changes."""
    states = ref.states()[1]
    points: set[int] = set()
    if states.shape[0]:
        changed = np.nonzero((states[:, 1:] != states[:, :-1]).any(axis=0))[0] + 1
        points = {int(i) for i in changed} | {int(i) - 1 for i in changed}
    if not points:
        points = {scenario.length - 1 if end is None else end}
    return sorted(i for i in points if 0 <= i < scenario.length)
