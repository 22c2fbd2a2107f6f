"""The SLOs of a spec the tests can model, found by the series they read (a spec may hold thousands),
and what the reference model asks of each again and again (``PlanFacts``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from triton_slo.names import NO_TRAFFIC
from triton_slo.rules import SloPlan, budget_left_template
from triton_slo.ruletests.custom import CustomSli
from triton_slo.ruletests.refmodel import Tier, Window
from triton_slo.ruletests.scenarios import Series


@dataclass(frozen=True)
class PlanFacts:
    alertname: str
    burn_rules: list[dict]  # the SLO's burn-rate alert rules, one per tier
    tiers: list[Tier]
    budget: Decimal
    min_events: int
    labels: dict[str, str]
    budget_template: str  # the "budget left" query of its annotations (``rules.budget_left_template``)


def metric_names(p: SloPlan) -> set[str]:
    """The metric names a per-model SLO's queries read."""
    q = p.queries
    sets = q.errors_sets + q.good_sets + q.events_sets + q.slice_sets + q.traffic_sets
    return {v for s in sets for label, op, v in s if label == "__name__" and op == "="}


def tiers_of(p: SloPlan) -> list[Tier]:
    """The SLO's burn-rate tiers as the reference model reads them."""
    def window(seconds: int) -> Window:
        return Window(seconds, raw=p.raw_window(seconds) or p.queries.slices)
    return [Tier(t.name, t.severity, t.factor, window(t.long_window), window(t.short_window)) for t in p.tiers]


class SpecIndex:
    """The SLOs of a spec the tests can model, by the series they read."""

    def __init__(self, plans: list[SloPlan], rules: dict[str, list[dict]], custom: dict[str, CustomSli]) -> None:
        self.rules = rules  # every rule of each SLO, by SLO name
        self.custom = custom  # custom SLOs the reference model evaluates, by SLO name
        self.budget_lag: dict[str, int] = {}  # evaluations the alerts' "budget left" lags behind
        self._facts: dict[str, PlanFacts] = {}  # by SLO name
        self.by_key: dict[tuple[str, str], list[SloPlan]] = {}
        self.watching: list[tuple[SloPlan, dict]] = []
        self.any_name: list[SloPlan] = []  # custom SLOs whose selectors match names by regex
        for p in plans:
            if not p.queries.per_model and p.slo.name not in custom:
                continue
            models = [m.name for m in p.spec.models_of(p.slo)] if p.queries.per_model else []
            names = metric_names(p) if p.queries.per_model else custom[p.slo.name].names
            if not p.queries.per_model and custom[p.slo.name].any_name:
                self.any_name.append(p)  # a name regex: it may read any test's series
                names = set()
            for name in names:
                for model in models or ["*"]:
                    self.by_key.setdefault((name, model), []).append(p)
            rule = next((r for r in rules[p.slo.name] if r.get("alert") == NO_TRAFFIC), None)
            if rule is not None:
                self.watching.append((p, rule))

    def facts(self, p: SloPlan) -> PlanFacts:
        """What the reference model asks of an SLO again and again, worked out once."""
        facts = self._facts.get(p.slo.name)
        if facts is None:
            facts = self._facts[p.slo.name] = PlanFacts(
                p.alertname, [r for r in self.rules[p.slo.name] if r.get("alert") == p.alertname], tiers_of(p),
                p.budget, p.slo.alerting.min_events, p.labels, budget_left_template(p))
        return facts

    def readers(self, series: list[Series]) -> list[SloPlan]:
        """SLOs that may read any of these series (those matching names by regex first)."""
        found: dict[str, SloPlan] = {}
        for p in self.any_name:
            found[p.slo.name] = p
        for s in series:
            name, model = s.labels["__name__"], s.labels.get("model", "")
            for p in self.by_key.get((name, model), []) + self.by_key.get((name, "*"), []):
                found[p.slo.name] = p
        return list(found.values())
