"""The tests of one spec's SLOs (or of one part of them), from the plans and rules made for it.

Per SLO its scenarios; the scenarios of SLOs whose inputs do not collide are merged into one
promtool test (``packing``); per SLO and test, the reference model's timeline of its alerts at the
checked moments (``expected``); then the full alert checks (``cover``) and the test items
(``document``). A spec of hundreds of SLOs is split into parts of whole SLO shapes
(``packing.partition``), built in forked processes; every SLO still reads every test's inputs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from triton_slo.names import BUDGET_REMAINING, CUSTOM_BUDGET_BURN, NO_TRAFFIC
from triton_slo.rules import SloPlan, SpecRules
from triton_slo.ruletests.annotations import static_annotations_ok
from triton_slo.ruletests.cover import SloCheck, annotation_plan
from triton_slo.ruletests.custom import CustomSli, custom_sli
from triton_slo.ruletests.document import alert_tests, test_document, test_item
from triton_slo.ruletests.evaluator import Unsupported
from triton_slo.ruletests.expected import Firing, Reference, check_points
from triton_slo.ruletests.groups import SharedModels
from triton_slo.ruletests.index import SpecIndex
from triton_slo.ruletests.packing import merge, pack, partition
from triton_slo.ruletests.scenarios import Scenario, scenarios


@dataclass
class SpecTests:
    document: dict  # the test file of this part's tests (``document.test_document``)
    notes: list[str]
    # per SLO and scenario: sample index -> firing set (labels only; for the Python tests of this package)
    timelines: dict[tuple[str, str], dict[int, set[Firing]]]


def budget_lags(made: SpecRules) -> dict[str, int]:
    """Per SLO, 1 where the rule file evaluates the budget left after the SLO's alerts (a later
    group, or later in the group): promtool evaluates every group at every step, in file order,
    so the alerts' "budget left" query then reads the previous evaluation's value."""
    # The layout is the same for every SLO of a spec: read it from the first one's groups.
    groups = dataclasses.replace(made, slos=made.slos[:1]).file_groups()
    first_alert: dict[str, int] = {}
    budget_at: dict[str, int] = {}
    position = 0
    for group in groups:
        for rule in group["rules"]:
            position += 1
            slo = rule.get("labels", {}).get("slo", "")
            if rule.get("alert") and rule["alert"] != NO_TRAFFIC:
                first_alert.setdefault(slo, position)
            elif rule.get("record") == BUDGET_REMAINING:
                budget_at[slo] = position
    lag = 1 if any(budget_at.get(slo, 0) > at for slo, at in first_alert.items()) else 0
    return {s.plan.slo.name: lag for s in made.slos}


def custom_slis(plans: list[SloPlan], interval: int, notes: list[str]) -> dict[str, CustomSli]:
    """The custom SLOs whose inputs can be written and evaluated; a note for each of the others."""
    out = {}
    for p in plans:
        if p.queries.per_model:
            continue
        try:
            out[p.slo.name] = custom_sli(p, interval)
        except Unsupported as exc:
            notes.append(f"{p.spec.service.name}/{p.slo.name}: no generated test ({p.queries.kind} SLI: {exc}); "
                         "promtool check rules covers its syntax")
    return out


@dataclass
class SpecContext:
    """What every part of a spec's tests reads: plans, custom SLIs, the index of readers (made once
    per spec: forked parts inherit it)."""

    made: SpecRules
    plans: list[SloPlan]
    custom: dict[str, CustomSli]
    index: SpecIndex
    notes: list[str]  # about custom SLIs the model cannot evaluate


def spec_context(made: SpecRules) -> SpecContext:
    plans = made.plans
    rules = {p.slo.name: g["rules"] for p, g in zip(plans, made.slo_groups(), strict=True)}
    notes: list[str] = []
    custom = custom_slis(plans, made.interval, notes)
    index = SpecIndex(plans, rules, custom)
    index.budget_lag = budget_lags(made)
    return SpecContext(made, plans, custom, index, notes)


def _scenarios_by_shape(context: SpecContext, own: set[str],
                        notes: list[str]) -> dict[tuple[str, int], list[tuple[SloPlan, Scenario]]]:
    """The scenarios of the SLOs of ``own`` that get tests, by (scenario, length class): scenarios
    of a similar length share tests (the shorter ones are continued to the longest)."""
    service = context.made.spec.service.name
    by_shape: dict[tuple[str, int], list[tuple[SloPlan, Scenario]]] = {}
    for p in context.plans:
        if p.slo.name not in own or not p.queries.per_model and p.slo.name not in context.custom:
            continue
        if not static_annotations_ok(p):
            notes.append(f"{service}/{p.slo.name}: no generated test (its alert annotations use templates the "
                         "tests cannot fill in)")
            continue
        for scenario in scenarios(p, context.custom.get(p.slo.name)):
            by_shape.setdefault((scenario.name, max(scenario.length - 1, 1).bit_length()), []).append((p, scenario))
    return by_shape


def build_tests(made: SpecRules, part: tuple[int, int] = (0, 1), context: SpecContext | None = None) -> SpecTests:
    """The tests of a spec's SLOs (of one ``part`` of ``partition``: (number, parts)); every SLO
    of the spec is still a reader of the inputs, whichever part writes its tests."""
    context = context or spec_context(made)
    plans, index, service = context.plans, context.index, made.spec.service.name
    shared = SharedModels()  # this build's reference models, by the values they read
    own = partition(plans, part[1])[part[0]] if part[1] > 1 else {p.slo.name for p in plans}
    notes = [n for n in context.notes if n.split(": ", 1)[0].split("/", 1)[-1] in own]
    # Alerts of custom SLOs the model cannot evaluate could fire in any test: the full alert checks
    # (every alert of a name) then leave their alert name out; the per-SLO checks are unaffected.
    unknown = any(not p.queries.per_model and p.slo.name not in context.custom for p in plans)
    unchecked_names = {CUSTOM_BUDGET_BURN, NO_TRAFFIC} if unknown else set()

    timelines, failed = {}, set()
    built: list[tuple[Scenario, list[SloCheck]]] = []
    for (name, _), items in _scenarios_by_shape(context, own, notes).items():
        for members in pack(items):
            test = merge(name, members)
            checks = []
            for p, alone in members:
                # Silence is where no-traffic alerts are checked; elsewhere the SLO's burn-rate alert.
                alertname = NO_TRAFFIC if name == "silence" else p.alertname
                try:
                    ref = Reference(index, shared, test, [alertname], [p])
                    timeline = ref.timeline(check_points(ref, test, alone.length - 1))
                except Unsupported as exc:
                    failed.add(p.slo.name)
                    notes.append(f"{service}/{p.slo.name}: no generated {name} test ({p.queries.kind} SLI: {exc})")
                    continue
                timelines[(p.slo.name, name)] = timeline
                checks.append(SloCheck(p, alertname, timeline, ref.group_labels()))
            built.append((test, checks))

    moments: dict[int, list[tuple[str, list[int]]]] = {}  # per test: (alert name, moments), by name
    for (number, alertname), chosen in sorted(annotation_plan(index, shared, built, unchecked_names, failed).items()):
        moments.setdefault(number, []).append((alertname, sorted(chosen)))
    tests = []
    for number, (test, checks) in enumerate(built):
        if checks:
            full = [item for alertname, at in moments.get(number, [])
                    for item in alert_tests(index, shared, test, alertname, at, failed)]
            tests.append(test_item(test.name, test, checks, full))
    return SpecTests(test_document(made.spec, tests), notes, timelines)
