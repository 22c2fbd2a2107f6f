"""What an SLO reads from one test's inputs: the reference model of each group it sums its series
into (model and version for per-model SLIs, the groups of the user's query for custom SLIs).

SLOs of one shape over other models read equal values; they share one model (and what it keeps:
ratio arrays, decisions), found by content in the ``SharedModels`` of the build.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from triton_slo.promql import matches
from triton_slo.rules import SloPlan
from triton_slo.ruletests.custom import CustomSli
from triton_slo.ruletests.evaluator import LabelKey, Unsupported, Vector, label_key
from triton_slo.ruletests.refmodel import EventModel, RateFn, SliceModel, difference_rate, summed_rate
from triton_slo.ruletests.scenarios import STEP, Scenario, Series

Model = EventModel | SliceModel


class SharedModels:
    """Reference models by the input values they read, made once per build of tests."""

    def __init__(self) -> None:
        self._models: dict[tuple, Model] = {}

    def get(self, key: tuple, build: Callable[[], Model]) -> Model:
        """The model for ``key`` (the kind, its parameters and the values read), built once."""
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = build()
        return model


def selected(sets: tuple, scenario: Scenario) -> list[Series]:
    """The input series any of the matcher sets selects (each set names its metric)."""
    out: dict[Series, None] = {}
    for matchers in sets:
        name = next(v for label, op, v in matchers if label == "__name__" and op == "=")
        model = next((v for label, op, v in matchers if label == "model" and op == "="), None)
        for s in scenario.named(name, model):
            if s not in out and matches(s.labels, matchers):
                out[s] = None
    return list(out)


def by_group(series: list[Series]) -> dict[LabelKey, list[Series]]:
    """Series by the (model, version) group the rules sum them into."""
    groups: dict[LabelKey, list[Series]] = {}
    for s in series:
        key = label_key({"model": s.labels.get("model", ""), "version": s.labels.get("version", "")})
        groups.setdefault(key, []).append(s)
    return groups


class VectorRate(RateFn):
    """One group of a custom query's result, as a rate by window (absent where the group is)."""

    def __init__(self, vectors: Callable[[int], Vector], key: LabelKey, length: int) -> None:
        self.vectors, self.key, self.length = vectors, key, length
        self.memo: dict[int, np.ndarray] = {}

    def array(self, window: int, length: int) -> np.ndarray:
        if window not in self.memo:
            values, present = self.vectors(window).get(self.key, (np.full(self.length, math.nan),
                                                                  np.zeros(self.length, dtype=bool)))
            if (present & np.isnan(values)).any():
                raise Unsupported("its query gives NaN for the inputs written")
            self.memo[window] = np.where(present, values, math.nan)
        return self.memo[window]

    def __call__(self, index: int, window: int) -> float | None:
        value = self.array(window, self.length)[index]
        return None if value != value else float(value)


def custom_models(p: SloPlan, custom: CustomSli, scenario: Scenario) -> dict[LabelKey, Model]:
    """The model of each group of a custom SLI's query over the scenario's inputs."""
    engine, length = scenario.engine(), scenario.length
    times = np.arange(length, dtype=float) * STEP
    out: dict = {}
    if custom.kind == "timeslice":
        for key, (bad, present) in custom.bad_slices(engine, times).items():
            out[key] = SliceModel.from_bad([float(b) if ok else None for b, ok in
                                            zip(bad.tolist(), present.tolist(), strict=True)], STEP)
        return out
    events = custom.events(engine, times)
    errors = custom.errors(engine, times, events)
    for key in events(p.base):
        if key in errors(p.base):
            out[key] = EventModel(VectorRate(errors, key, length), VectorRate(events, key, length), length,
                                  STEP, p.base)
    return out


def _content(columns: list[list[float]]) -> tuple:
    return tuple(tuple(column) for column in columns)


def per_model_models(p: SloPlan, scenario: Scenario, shared: SharedModels) -> dict[LabelKey, Model]:
    """The model of each (model, version) group a per-model SLI reads from the scenario's inputs."""
    q = p.queries
    out: dict = {}
    if q.slices:
        for group, gauges in by_group(selected(q.slice_sets, scenario)).items():
            values = [g.values for g in gauges]
            out[group] = shared.get(("slices", q.slice_seconds, q.slice_limit, _content(values)),
                                    lambda v=values: SliceModel(v, STEP, q.slice_seconds, q.slice_limit))
        return out
    events = by_group(selected(q.events_sets, scenario))
    errors = by_group(selected(q.errors_sets, scenario)) if q.errors_sets else {}
    good = by_group(selected(q.good_sets, scenario)) if q.good_sets else {}
    length = scenario.length
    for group, counters in events.items():
        bad, by = (errors, "errors") if q.errors_sets else (good, "good")
        if group not in bad:
            continue
        total, part = [c.values for c in counters], [c.values for c in bad[group]]

        def build(total: list = total, part: list = part, by: str = by) -> EventModel:
            events_rate = summed_rate(total, STEP)
            if by == "errors":
                errors_rate = summed_rate(part, STEP)
            else:
                errors_rate = difference_rate(events_rate, summed_rate(part, STEP))
            return EventModel(errors_rate, events_rate, length, STEP, p.base)

        out[group] = shared.get(("events", p.base, by, _content(total), _content(part)), build)
    return out


def models_of(scenario: Scenario, p: SloPlan, custom: CustomSli | None, shared: SharedModels) -> dict[LabelKey, Model]:
    """The reference model of each group the SLO reads from these inputs (kept with the scenario)."""
    models = scenario.models.get(p.slo.name)
    if models is None:
        models = per_model_models(p, scenario, shared) if custom is None else custom_models(p, custom, scenario)
        scenario.models[p.slo.name] = models
    return models
