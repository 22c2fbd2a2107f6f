"""Inputs for custom SLIs (ratio, timeslice), synthesised from the user's own PromQL.

The selectors inside the user's queries (``leaves``) say which series to write. The reference
model evaluates the user's query over those series (``evaluator.PromQL``); a shape it cannot
evaluate, or series that do not give the intended error ratio or slice verdicts, leave the SLO
without a test, with a note (``Unsupported`` carries the reason).

A ratio of one counter on each side is found directly. One whose queries are not one counter
each (total minus good, sums, name regexes, a raw error ratio) gets its series by a search: each
candidate series counts the good, the bad or all events, or is left out, and the first assignment
under which the reference model reads 10% and then 50% errors from the user's own queries is
written. A timeslice SLI gets the input values ("knobs") that make a slice good and bad.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from triton_slo.model import RatioSLI, TimesliceSLI
from triton_slo.rules import SloPlan
from triton_slo.ruletests.evaluator import COMPARE, PromQL, Unsupported, Vector
from triton_slo.ruletests.leaves import (
    Leaf,
    parse_query,
    query_leaves,
    selects,
    series_labels,
    series_outside,
    single_counter,
)
from triton_slo.ruletests.regex import regex_examples
from triton_slo.ruletests.scenarios import STEP, Series, counter
from triton_slo.sliexpr import BAD_OP

TOTAL_ROLE, GOOD_ROLE, BAD_ROLE = "total", "good", "bad"


@dataclass
class CustomSli:
    """How to write inputs for one ratio or timeslice SLO, and how the reference model reads them."""

    kind: str  # ratio or timeslice
    names: set[str]  # metric names read
    variants: int  # groups written: the first follows the scenario, the others stay healthy
    # ratio: per variant, (labels, role) of the counters written
    counters: list[list[tuple[dict[str, str], str]]] = field(default_factory=list)
    numerator: object = None  # parsed bad (or good) query
    total: object = None
    bad_given: bool = True
    error_ratio: object = None  # parsed precomputed error ratio (then no numerator and total)
    any_name: bool = False  # a selector matches metric names by regex: it may read any series
    # timeslice: per variant, the labels of each leaf; knob values per leaf for a good and a bad slice
    query: object = None
    leaves: list[Leaf] = field(default_factory=list)
    leaf_labels: list[list[dict[str, str]]] = field(default_factory=list)
    good_knobs: tuple[float, ...] = ()
    bad_knobs: tuple[float, ...] = ()
    bad_op: str = ">"
    limit: float = 0.0
    slice_seconds: int = 0
    interval: int = 60

    # -- inputs

    def event_series(self, good: list[int], bad: list[int]) -> list[Series]:
        out = []
        for variant, counters in enumerate(self.counters):
            g, b = (good, bad) if variant == 0 else ([x + y for x, y in zip(good, bad, strict=True)], [0] * len(bad))
            per_role = {GOOD_ROLE: g, BAD_ROLE: b, TOTAL_ROLE: [x + y for x, y in zip(g, b, strict=True)]}
            out += [Series(dict(labels), counter(per_role[role]), True) for labels, role in counters]
        return out

    def slice_series(self, flags: list[int | None]) -> list[Series]:
        out = []
        for variant, labels_of_leaves in enumerate(self.leaf_labels):
            for i, (leaf, labels) in enumerate(zip(self.leaves, labels_of_leaves, strict=True)):
                knobs = [self.bad_knobs[i] if flag and variant == 0 else self.good_knobs[i] for flag in flags]
                if leaf.counter:
                    out.append(Series(dict(labels), counter([int(k) for k in knobs]), True))
                else:
                    out.append(Series(dict(labels), [float(k) for k in knobs], False))
        return _unique(out)

    # -- the reference model over inputs

    def events(self, engine: PromQL, times: np.ndarray) -> Callable[[int], Vector]:
        if self.error_ratio is not None:  # no counts: one "event" where the ratio is written
            ratios = self._ratios(engine, times)
            return _cached(lambda w: {k: (np.where(p, 1.0, math.nan), p) for k, (_, p) in ratios(w).items()})
        return _cached(lambda w: _no_name(engine.evaluate(self.total, times, w)))

    def _ratios(self, engine: PromQL, times: np.ndarray) -> Callable[[int], Vector]:
        """The precomputed ratio as the rules record it: ``(query) >= 0 <= 1``."""
        def ratio(w: int) -> Vector:
            out = {}
            for key, (v, present) in _no_name(engine.evaluate(self.error_ratio, times, w)).items():
                with np.errstate(invalid="ignore"):
                    kept = present & (v >= 0) & (v <= 1)
                out[key] = (np.where(kept, v, math.nan), kept)
            return out
        return _cached(ratio)

    def errors(self, engine: PromQL, times: np.ndarray,
               events: Callable[[int], Vector]) -> Callable[[int], Vector]:
        if self.error_ratio is not None:
            return self._ratios(engine, times)
        if self.bad_given:
            return _cached(lambda w: _no_name(engine.evaluate(self.numerator, times, w)))

        def bad(w: int) -> Vector:  # clamp_min((total) - (good), 0)
            good = _no_name(engine.evaluate(self.numerator, times, w))
            out = {}
            for key, (tv, tp) in events(w).items():
                if key in good:
                    gv, gp = good[key]
                    present = tp & gp
                    with np.errstate(invalid="ignore"):
                        out[key] = (np.where(present, np.maximum(tv - gv, 0.0), math.nan), present)
            return out
        return _cached(bad)

    def bad_slices(self, engine: PromQL, times: np.ndarray) -> Vector:
        """1/0 per group and evaluation: the slice ending then is bad (judged on its worst value)."""
        if self.slice_seconds > self.interval:
            worst = "max" if self.bad_op in (">", ">=") else "min"
            value = engine.over_time(self.query, times, 0, self.slice_seconds, self.interval, worst)
        else:
            value = engine.evaluate(self.query, times, 0)
        if not isinstance(value, dict):
            raise Unsupported("the query is a number, not a vector")
        compare = COMPARE[self.bad_op]
        out = {}
        for key, (v, present) in _no_name(value).items():
            with np.errstate(invalid="ignore"):
                out[key] = (np.where(present, compare(v, self.limit).astype(float), math.nan), present)
        return out


def _cached(fn: Callable[[int], Vector]) -> Callable[[int], Vector]:
    memo: dict[int, Vector] = {}

    def get(window: int) -> Vector:
        if window not in memo:
            memo[window] = fn(window)
        return memo[window]
    return get


def _no_name(value: Vector | np.ndarray) -> Vector:
    """A query's groups as a recording rule writes them (the metric name replaced)."""
    if not isinstance(value, dict):
        raise Unsupported("the query is a number, not a vector")
    out = {}
    for key, sample in value.items():
        plain = tuple(kv for kv in key if kv[0] != "__name__")
        if plain in out:
            raise Unsupported("the query returns series that differ only in their name")
        out[plain] = sample
    return out


def _unique(series: list[Series]) -> list[Series]:
    seen, out = set(), []
    for s in series:
        if s.text() not in seen:
            seen.add(s.text())
            out.append(s)
    return out


def _variants(group_by: list[str], leaves: list[Leaf]) -> int:
    constrained = {label for leaf in leaves for label, op, _ in leaf.matchers if op in ("=", "=~")}
    return 2 if any(label not in constrained for label in group_by) else 1


def custom_sli(p: SloPlan, interval: int) -> CustomSli:
    """The recipe of a ratio or timeslice SLO's inputs; raises Unsupported with the reason."""
    sli = p.slo.sli
    if isinstance(sli, RatioSLI):
        return _ratio_sli(sli)
    if isinstance(sli, TimesliceSLI):
        return _timeslice_sli(sli, interval)
    raise Unsupported(f"a {p.queries.kind} SLI is not custom")


def _ratio_sli(sli: RatioSLI) -> CustomSli:
    if sli.precomputed:
        query = parse_query(sli.error_ratio)
        leaves, by = query_leaves(query)
        return _search_roles(leaves, by, lambda counters, variants: CustomSli(
            "ratio", {leaf.name for leaf in leaves}, variants, counters=counters, error_ratio=query,
            any_name=_any_name(leaves)))
    bad_given = bool(sli.bad)
    numerator = parse_query(sli.bad or sli.good)
    total = parse_query(sli.total)
    n_leaves, n_by = query_leaves(numerator)
    t_leaves, t_by = query_leaves(total)
    group_by = list(dict.fromkeys(n_by + t_by))

    def make(counters: list, variants: int) -> CustomSli:
        leaves = n_leaves + t_leaves
        return CustomSli("ratio", {leaf.name for leaf in leaves}, variants, counters=counters, numerator=numerator,
                         total=total, bad_given=bad_given, any_name=_any_name(leaves))
    try:
        return _one_counter_each(n_leaves, t_leaves, group_by, bad_given, make)
    except Unsupported:
        # any other shape (total - good, a sum of counters, a name regex): search the roles
        return _search_roles(n_leaves + t_leaves, group_by, make)


def _any_name(leaves: list[Leaf]) -> bool:
    return any(leaf.matchers[0][1] != "=" for leaf in leaves)


def _one_counter_each(n_leaves: list[Leaf], t_leaves: list[Leaf], group_by: list[str], bad_given: bool,
                      make: Callable[[list, int], CustomSli]) -> CustomSli:
    """The common shape, found directly: one counter on each side (bad or good, and total)."""
    n_leaf = single_counter(n_leaves, "bad" if bad_given else "good")
    t_leaf = single_counter(t_leaves, "total")
    variants = _variants(group_by, [n_leaf, t_leaf])
    role, other = (BAD_ROLE, GOOD_ROLE) if bad_given else (GOOD_ROLE, BAD_ROLE)
    counters = []
    for variant in range(variants):
        ln = series_labels(n_leaf, group_by, variant)
        lt = series_labels(t_leaf, group_by, variant)
        if selects(t_leaf, ln):  # the numerator's series are part of the total: add the rest
            rest = series_outside(ln, n_leaf, t_leaf)  # e.g. code="200" beside code="500"
            if rest is None and lt != ln and not selects(n_leaf, lt):
                rest = lt
            if rest is None:
                raise Unsupported("no series found that the total counts and the "
                                           f"{role} query does not")
            counters.append([(ln, role), (rest, other)])
        else:
            if selects(n_leaf, lt):
                raise Unsupported(f"the {role} query also counts the total's series")
            counters.append([(ln, role), (lt, TOTAL_ROLE)])
    custom = make(counters, variants)
    _check_ratio(custom)
    return custom


APART = "synthetic_series"  # the label that keeps apart test series of a name regex's alternatives
MAX_SEARCHED_SERIES = 5  # 4^5 role assignments at most


def _candidates(leaves: list[Leaf], group_by: list[str], variant: int) -> list[dict[str, str]]:
    """Series to write for the selectors: an example of each, and where another selector reads
    that example too, one it does not read (``code="200"`` beside ``code=~"5.."``)."""
    out: dict[tuple, dict[str, str]] = {}
    for leaf in leaves:
        label, op, value = leaf.matchers[0]
        names = regex_examples(value) if (label, op) == ("__name__", "=~") else [leaf.name]
        for name in names:  # each alternative of a name regex: nv_.*_(success|failure)
            labels = series_labels(dataclasses.replace(leaf, name=name), group_by, variant)
            if len(names) > 1 and APART not in labels:
                # rate() drops the name: series of several names must differ in another label
                trial = {**labels, APART: name}
                labels = trial if selects(leaf, trial) else labels
            out.setdefault(tuple(sorted(labels.items())), labels)
            for other in leaves:
                if other is not leaf and selects(other, labels):
                    outside = series_outside(labels, other, leaf)
                    if outside is not None:
                        out.setdefault(tuple(sorted(outside.items())), outside)
    return list(out.values())


def _search_roles(leaves: list[Leaf], group_by: list[str], make: Callable[[list, int], CustomSli]) -> CustomSli:
    """Counters for the selectors, each counting the good, the bad or all events (or not written):
    the first assignment under which the reference model reads the intended error ratios is taken."""
    distinct = list({leaf.matchers: leaf for leaf in leaves}.values())
    if not distinct or any(not leaf.counter for leaf in distinct):
        raise Unsupported("its queries read something other than counters under rate() or increase()")
    variants = _variants(group_by, distinct)
    candidates = [_candidates(distinct, group_by, v) for v in range(variants)]
    if any(len(c) != len(candidates[0]) for c in candidates) or len(candidates[0]) > MAX_SEARCHED_SERIES:
        raise Unsupported(f"its queries need more than {MAX_SEARCHED_SERIES} kinds of series")
    for roles in itertools.product((TOTAL_ROLE, GOOD_ROLE, BAD_ROLE, None), repeat=len(candidates[0])):
        if not any(roles):
            continue
        counters = [[(labels, role) for labels, role in zip(candidates[v], roles, strict=True) if role]
                    for v in range(variants)]
        custom = make(counters, variants)
        try:
            _check_ratio(custom)
        except Unsupported:
            continue
        return custom
    raise Unsupported("no counters found for its selectors that give the intended error ratio")


def _check_ratio(custom: CustomSli) -> None:
    """The synthesised series must give each group the intended error ratio (10%, then 50%)."""
    n = 12
    times = np.array([float((n - 1) * STEP)])
    for good, bad in ((900, 100), (500, 500)):
        series = custom.event_series([good] * n, [bad] * n)
        engine = PromQL([(s.labels, s.values) for s in series], STEP)
        events = custom.events(engine, times)
        errors = custom.errors(engine, times, events)(300)
        totals = events(300)
        ratios = {k: errors[k][0][0] / totals[k][0][0] for k in totals
                  if k in errors and totals[k][1][0] and totals[k][0][0] > 0}
        expected = [bad / (good + bad)] + [0.0] * (custom.variants - 1)
        if len(ratios) != custom.variants or sorted(round(r, 9) for r in ratios.values()) != sorted(expected):
            raise Unsupported("the series written for its selectors do not give the intended error ratio")


def _knob_candidates(limit: float) -> list[float]:
    raw = [limit * 2, limit / 2, limit * 10, limit / 10, limit + 1, limit - 1, limit + 10, limit - 10,
           0.0, 1.0, 10.0, 100.0, 1000.0, -1.0]
    out = []
    for value in raw:
        value = float(f"{value:.6g}")
        if math.isfinite(value) and value not in out:
            out.append(value)
    return out


def _timeslice_sli(sli: TimesliceSLI, interval: int) -> CustomSli:
    query = parse_query(sli.query)
    leaves, group_by = query_leaves(query)
    leaves = list({(leaf.name, leaf.matchers, leaf.counter): leaf for leaf in leaves}.values())
    if not leaves or len(leaves) > 2:
        raise Unsupported("its query reads no selector or more than two")
    variants = _variants(group_by, leaves)
    leaf_labels = [[series_labels(leaf, group_by, v) for leaf in leaves] for v in range(variants)]
    custom = CustomSli("timeslice", {leaf.name for leaf in leaves}, variants, query=query, leaves=leaves,
                       leaf_labels=leaf_labels, bad_op=BAD_OP[sli.op], limit=float(sli.threshold),
                       slice_seconds=sli.slice_seconds, interval=interval)
    if len(leaves) == 1:
        options = [(c,) for c in _knob_candidates(float(sli.threshold))]
    else:
        small = [0.0, 1.0, 10.0, 100.0, 1000.0]
        options = [(a, b) for a in small for b in small]
    options = [o for o in options if all(k >= 0 and k == int(k) for k, leaf in zip(o, leaves, strict=True)
                                         if leaf.counter)]
    good = bad = None
    for knobs in options:
        verdict = _slice_verdict(custom, knobs)
        if verdict is False and good is None:
            good = knobs
        elif verdict is True and bad is None:
            bad = knobs
    if good is None or bad is None:
        raise Unsupported("no input values found that make a slice good and another bad")
    custom.good_knobs, custom.bad_knobs = good, bad
    return custom


def _slice_verdict(custom: CustomSli, knobs: tuple[float, ...]) -> bool | None:
    """Whether steady inputs at these values make every group's slice bad (True), good (False), else None."""
    n = 15
    probe = dataclasses.replace(custom, good_knobs=knobs, bad_knobs=knobs, variants=1,
                                leaf_labels=custom.leaf_labels[:1])
    series = probe.slice_series([0] * n)
    engine = PromQL([(s.labels, s.values) for s in series], STEP)
    bad = probe.bad_slices(engine, np.array([float((n - 1) * STEP)]))  # a shape outside the model raises
    verdicts = {bool(v[0]) for v, present in bad.values() if present[0]}
    return verdicts.pop() if len(verdicts) == 1 and len(bad) == 1 else None
