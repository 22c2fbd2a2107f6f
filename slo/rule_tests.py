"""Generated promtool unit tests of the SLO rules: ``OUT/tests/<service>-slo.yaml``.

For every SLO the tests feed synthetic input series through the generated rules in several
scenarios: a healthy period (half the budget burn), a slow burn (2x: tickets only), a fast burn
(a full outage after a clean history, then recovery: pages fire and clear), and, where
configured, silence (the no-traffic alert) and low traffic (no page below ``min_events``).

Per-model SLIs (availability, latency from a histogram or from summary quantiles, accuracy) read
Triton's or the exporter's series, which the tests write. Custom SLIs (ratio, timeslice) read the
user's own series: their PromQL is parsed, the selectors in it say which counters or gauges to
write (see "custom SLIs" below), and the reference model evaluates the same query over them.
A query shape the reference model cannot evaluate gets no test and a `generate` note saying why.

Which alerts fire when is computed by ``slo.refmodel`` from the same input samples, never by
running the rules; the checked times are the moments an alert starts or stops firing and the
evaluation just before, so a rule that fires one evaluation early or late fails its test.

A spec of hundreds of SLOs is split into two parts of whole SLO shapes, built in two forked
processes (``partition``); every SLO still reads every test's inputs.

The file stays small and promtool fast for thousands of SLOs: the scenarios of SLOs whose inputs
do not collide share one promtool test (promtool evaluates every rule at every step of every
test); at each checked moment one ``count by (slo, tier, ...) (ALERTS{...})`` query checks which
alerts of those SLOs fire (others reading the same inputs may fire too, unchecked there); and
every alert's labels and annotations (``$value``, budget left) are checked in full once, at a
moment chosen so that few other alerts are listed with it.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import heapq
import itertools
import json
import math
import re
import re._parser as re_parser
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import promql_parser
from triton_slo import names, refmodel
from triton_slo import rules as rules_module
from triton_slo.artifacts import Artifact, Built, Options
from triton_slo.background import Background, fork_pays
from triton_slo.burnrate import decimal_text, detection_seconds, reset_seconds
from triton_slo.durations import format_duration
from triton_slo.model import AvailabilitySLI, LatencySLI, RatioSLI, Spec, TimesliceSLI
from triton_slo.rules import (
    BUDGET_REMAINING,
    NO_TRAFFIC_ALERT,
    SloPlan,
    SpecRules,
    budget_left_template,
    no_traffic_rule,
)
from triton_slo.sliexpr import (
    BAD_OP,
    GOLDEN_CORRECT,
    GOLDEN_TOTAL,
    TRITON_FAILURE,
    TRITON_SUCCESS,
    TRITON_SUMMARY,
    alternation,
    matches,
    quote,
    with_window,
)

STEP = 60  # the tests scrape and evaluate every minute
ANY_MODEL = ("model_a", "1")  # stands for "every model" when an SLO names none
REASONS = ("BACKEND", "OTHER", "REJECTED", "CANCELED")


@dataclass
class Series:
    labels: dict[str, str]  # with __name__
    values: list[float]
    counter: bool = True  # else a gauge
    _text: str = field(default="", repr=False, compare=False)

    def text(self) -> str:
        """The series as promtool's input names it (made once: labels are not changed after)."""
        if not self._text:
            name = self.labels["__name__"]
            rest = ", ".join(f"{k}={quote(v)}" for k, v in self.labels.items() if k != "__name__")
            self._text = f"{name}{{{rest}}}"
        return self._text


@dataclass
class Scenario:
    name: str
    series: list[Series]
    length: int  # samples
    checks: set[int] = field(default_factory=set)  # sample indices to check
    # (start, end) index ranges inside which an alert changes state at most once
    monotone: list[tuple[int, int]] = field(default_factory=list)
    _engine: refmodel.PromQL | None = None
    _models: dict | None = None
    _by_name: dict[tuple[str, str | None], list[Series]] | None = None
    # per SLO: its burn-rate alerts' rows and state matrices; per (SLO, window): its traffic
    _burn_states: dict[str, tuple] = field(default_factory=dict)
    _traffic: dict[tuple[str, int], dict] = field(default_factory=dict)

    def models(self, p: SloPlan, custom: CustomSli | None) -> dict:
        """The reference model of each group the SLO reads from these inputs (built once)."""
        if self._models is None:
            self._models = {}
        if p.slo.name not in self._models:
            self._models[p.slo.name] = _models(p, self, custom)
        return self._models[p.slo.name]

    def named(self, name: str, model: str | None = None) -> list[Series]:
        """The input series of a metric (and of one model)."""
        if self._by_name is None:
            self._by_name = {}
            for s in self.series:
                self._by_name.setdefault((s.labels["__name__"], None), []).append(s)
                self._by_name.setdefault((s.labels["__name__"], s.labels.get("model", "")), []).append(s)
        return self._by_name.get((name, model), [])

    def engine(self) -> refmodel.PromQL:
        """The scenario's inputs for the PromQL reference model (built once)."""
        if self._engine is None:
            self._engine = refmodel.PromQL([(s.labels, s.values) for s in self.series], STEP)
        return self._engine


# --- inputs ----------------------------------------------------------------------------------


def _groups(p: SloPlan) -> list[tuple[str, str]]:
    models = p.spec.models_of(p.slo)
    if not models:
        return [ANY_MODEL]
    return [(m.name, v) for m in models for v in (m.versions or ("1",))]


def _counter(increments: list[int]) -> list[float]:
    """Samples of a counter that starts at zero and grows by ``increments[i]`` up to sample i."""
    return [float(v) for v in itertools.accumulate(increments[1:], initial=0)]


def _event_series(p: SloPlan, good: list[int], bad: list[int]) -> list[Series]:
    """Counters of one SLI kind for every model of the SLO: ``good`` and ``bad`` events per sample."""
    sli, service = p.slo.sli, p.spec.service
    total = [g + b for g, b in zip(good, bad, strict=True)]
    out = []
    for model, version in _groups(p):
        ids = {"model": model, "version": version}
        if isinstance(sli, AvailabilitySLI):
            base = {**service.triton_selector, **ids}
            reason = next((r for r in REASONS if r not in sli.exclude_reasons), "INTERNAL")
            failure = {"reason": reason} if sli.exclude_reasons else {}
            out.append(Series({"__name__": TRITON_SUCCESS, **base}, _counter(good)))
            out.append(Series({"__name__": TRITON_FAILURE, **base, **failure}, _counter(bad)))
            for excluded in sli.exclude_reasons[:1]:  # failures the SLO ignores: must not count
                out.append(Series({"__name__": TRITON_FAILURE, **base, "reason": excluded}, _counter(total)))
        elif isinstance(sli, LatencySLI):
            base = {**(service.exporter_selector if sli.metric.startswith("triton_slo_") else
                       service.triton_selector), **ids}
            bound = Decimal(repr(sli.threshold_seconds)) * {"s": 1, "ms": 1000, "us": 1000000}[sli.metric_unit]
            out.append(Series({"__name__": f"{sli.metric}_bucket", **base, "le": decimal_text(bound)},
                              _counter(good)))
            out.append(Series({"__name__": f"{sli.metric}_count", **base}, _counter(total)))
        else:  # accuracy
            base = {**service.exporter_selector, **ids}
            out.append(Series({"__name__": GOLDEN_CORRECT, **base}, _counter(good)))
            out.append(Series({"__name__": GOLDEN_TOTAL, **base}, _counter(total)))
    return out


def _summary_series(p: SloPlan, quantiles: list[float], requests: list[int] | None) -> list[Series]:
    """Summary quantiles of every model, and its request counters where the test watches traffic
    (without them the SLO's scenarios share tests with availability SLOs of the same models)."""
    sli, service = p.slo.sli, p.spec.service
    out = []
    for model, version in _groups(p):
        base = {**service.triton_selector, "model": model, "version": version}
        out.append(Series({"__name__": TRITON_SUMMARY, **base, "quantile": decimal_text(Decimal(repr(sli.quantile)))},
                          quantiles, False))
        if requests is None:
            continue
        out.append(Series({"__name__": TRITON_SUCCESS, **base}, _counter(requests)))
        out.append(Series({"__name__": TRITON_FAILURE, **base}, _counter([0] * len(requests))))
    return out


def _rate_per_sample(budget: Decimal) -> int:
    """Events per sample: enough that half the budget is a whole number of bad events."""
    return max(100, int(math.ceil(200 / float(budget))))


def _steps(seconds: float) -> int:
    return int(math.ceil(seconds / STEP))


def scenarios(p: SloPlan, custom: CustomSli | None = None) -> list[Scenario]:
    """The input scenarios of one SLO (``custom``: how to write a ratio or timeslice SLO's series)."""
    budget = p.budget
    longest_page = max([t.long_window for t in p.tiers if t.severity == "critical"] or [p.base])
    clean = _steps(longest_page) + 1  # the Workbook's timings assume a full clean long window
    detect = [detection_seconds(t, budget, p.base, p.base) or 0 for t in p.tiers]
    resets = [reset_seconds(t, budget, p.base) or 0 for t in p.tiers if t.severity == "critical"]
    outage = _steps(max(detect or [0])) + 5
    recovery = _steps(max(resets or [p.base])) + 5
    fast_len = clean + outage + recovery
    out = []

    def events(good: list[int], bad: list[int]) -> list[Series]:
        return custom.event_series(good, bad) if custom else _event_series(p, good, bad)

    if p.queries.slices:
        limit = p.queries.slice_limit

        def slices(flags: list[int | None], requests: list[int] | None = None) -> list[Series]:
            """Inputs from each sample's verdict: 1 bad, 0 good, None no requests (summary NaN, not bad)."""
            if custom:
                return custom.slice_series(flags)
            gauge = [math.nan if f is None else limit * 2 if f else limit / 2 for f in flags]
            return _summary_series(p, gauge, requests)

        slice_steps = max(1, _steps(custom.slice_seconds if custom else p.queries.slice_seconds))
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
        rate = _rate_per_sample(budget)
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
        busy, quiet = 30, _steps(silence_for) + 5
        n = busy + quiet
        if p.queries.slices:
            series = _summary_series(p, [p.queries.slice_limit / 2] * n, [100 if i < busy else 0 for i in range(n)])
        else:
            rate = _rate_per_sample(budget)
            series = events([rate if i < busy else 0 for i in range(n)], [0] * n)
        out.append(Scenario("silence", series, n, {busy - 1, n - 1}, [(busy, n)]))
    return out


# --- custom SLIs (ratio, timeslice): inputs synthesised from the user's own PromQL ---------------
# The selectors inside the user's queries say which series to write: each gets the labels its
# matchers ask for (a regex gets a value it matches), and every free ``by`` label two values, so
# that one group burns while the other stays healthy. The reference model evaluates the user's
# query over those series (refmodel.PromQL); a shape it cannot evaluate, or series that do not
# give the intended error ratio or slice verdicts, leave the SLO without a test, with a note.
# A ratio whose queries are not one counter each (total minus good, sums, name regexes, a raw
# error ratio) gets its series by a search: each candidate series counts the good, the bad or
# all events, or is left out, and the first assignment under which the reference model reads
# 10% and then 50% errors from the user's own queries is written.

TOTAL_ROLE, GOOD_ROLE, BAD_ROLE = "total", "good", "bad"


@dataclass(frozen=True)
class Leaf:
    """A selector in a user's query: the series it reads are counters (under rate/increase) or gauges."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]  # with ("__name__", "=", name)
    counter: bool


def parse_query(query: str) -> object:
    """A user's query parsed, ``{{.window}}`` standing for ``refmodel.WINDOW_SENTINEL``."""
    try:
        return promql_parser.parse(with_window(query, refmodel.WINDOW_SENTINEL))
    except (ValueError, RuntimeError) as exc:
        raise refmodel.Unsupported(f"the query does not parse ({exc})") from None


def _selector_leaf(selector: object, counter: bool) -> Leaf:
    ops = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
    matchers = tuple((m.name, ops[str(m.op).rsplit(".", 1)[-1]], m.value) for m in selector.matchers.matchers)
    if selector.name:
        return Leaf(selector.name, (("__name__", "=", selector.name), *matchers), counter)
    # {__name__=~"..."}: the series written get a name the matchers accept; the name matcher goes first
    named = [m for m in matchers if m[0] == "__name__"]
    rest = tuple(m for m in matchers if m[0] != "__name__")
    if len(named) != 1 or named[0][1] not in ("=", "=~"):
        raise refmodel.Unsupported("a selector without one positive __name__ matcher")
    name = named[0][2] if named[0][1] == "=" else regex_example(named[0][2])
    if not name:
        raise refmodel.Unsupported(f"no metric name found for __name__=~{quote(named[0][2])}")
    return Leaf(name, (named[0], *rest), counter)


def query_leaves(expr: object) -> tuple[list[Leaf], list[str]]:
    """The selectors of a query and the labels its aggregations group by."""
    leaves: list[Leaf] = []
    by: list[str] = []

    def visit(node: object) -> None:
        pp = promql_parser
        if isinstance(node, pp.VectorSelector):
            leaves.append(_selector_leaf(node, counter=False))
        elif isinstance(node, pp.MatrixSelector):
            leaves.append(_selector_leaf(node.vector_selector, counter=False))
        elif isinstance(node, pp.Call):
            args = list(node.args)
            if node.func.name in ("rate", "increase") and args and isinstance(args[0], pp.MatrixSelector):
                leaves.append(_selector_leaf(args[0].vector_selector, counter=True))
            else:
                for arg in args:
                    visit(arg)
        elif isinstance(node, pp.AggregateExpr):
            if node.modifier is not None and node.modifier.type == pp.AggModifierType.By:
                by.extend(label for label in node.modifier.labels if label not in by)
            visit(node.expr)
        elif isinstance(node, pp.BinaryExpr):
            visit(node.lhs)
            visit(node.rhs)
        elif isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
            visit(node.expr)

    visit(expr)
    return leaves, by


def regex_example(pattern: str) -> str | None:
    """A value the (simple) regex matches in full, or None."""
    examples = regex_examples(pattern, 1)
    return examples[0] if examples else None


def regex_examples(pattern: str, limit: int = 3) -> list[str]:
    """Up to ``limit`` values the (simple) regex matches in full, one per alternative first."""
    try:
        parsed = re_parser.parse(pattern)
    except re.error:
        return []

    def one(op, arg) -> list[str] | None:  # noqa: ANN001 - sre items
        name = str(op)
        if name == "LITERAL":
            return [chr(arg)]
        if name == "ANY":
            return ["0"]
        if name == "IN":
            first = arg[0]
            if str(first[0]) == "LITERAL":
                return [chr(first[1])]
            if str(first[0]) == "RANGE":
                return [chr(first[1][0])]
            if str(first[0]) == "CATEGORY":
                return [{"CATEGORY_DIGIT": "0", "CATEGORY_WORD": "a", "CATEGORY_SPACE": " "}.get(str(first[1]), "a")]
            return None
        if name == "BRANCH":
            out = []
            for branch in arg[1]:
                out += gen(branch) or []
            return out[:limit] or None
        if name == "SUBPATTERN":
            return gen(arg[3])
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            low, high, sub = arg
            part = gen(sub)
            return None if part is None else [p * (max(low, 1) if high >= 1 else 0) for p in part]
        if name == "AT":
            return [""]
        return None

    def gen(items) -> list[str] | None:  # noqa: ANN001 - sre items
        out = [""]
        for op, arg in items:
            parts = one(op, arg)
            if parts is None:
                return None
            out = [a + b for a in out for b in parts][:limit]
        return out

    return [text for text in dict.fromkeys(gen(parsed) or []) if re.fullmatch(pattern, text)][:limit]


def _selects(leaf: Leaf, labels: dict[str, str]) -> bool:
    return matches(labels, leaf.matchers)


def _leaf_labels(leaf: Leaf, group_by: list[str], variant: int) -> dict[str, str]:
    labels = {"__name__": leaf.name}
    constrained = set()
    for label, op, value in leaf.matchers[1:]:
        constrained.add(label)
        if op == "=":
            labels[label] = value
        elif op == "=~":
            example = regex_example(value)
            if example is None:
                raise refmodel.Unsupported(f"no value found for {label}=~{quote(value)}")
            labels[label] = example
    for label in group_by:
        if label not in labels and label != "__name__":
            labels[label] = str(variant)
    for label, op, value in leaf.matchers[1:]:  # a negative matcher the empty value breaks
        if not matches(labels, [(label, op, value)]):
            for option in ("x", "other", "0"):
                if matches({**labels, label: option}, [(label, op, value)]):
                    labels[label] = option
                    break
    labels = {k: v for k, v in labels.items() if v != ""}
    if not _selects(leaf, labels):
        raise refmodel.Unsupported(f"no series found that {leaf.name}'s selector selects")
    return labels


def _outside(labels: dict[str, str], inside: Leaf, keep: Leaf) -> dict[str, str] | None:
    """The labels changed on one label so that ``keep`` still selects them and ``inside`` does not."""
    for label, op, value in inside.matchers[1:]:
        if op in ("=", "=~"):
            options = ["200", "0", "ok", "other", "", value + "x"]
        else:
            options = [value if op == "!=" else regex_example(value)]
        for option in options:
            if option is None:
                continue
            trial = {k: v for k, v in {**labels, label: option}.items() if v != ""}
            if not _selects(inside, trial) and _selects(keep, trial):
                return trial
    return None


def _single_counter(leaves: list[Leaf], what: str) -> Leaf:
    if len(leaves) != 1 or not leaves[0].counter:
        raise refmodel.Unsupported(f"its {what} query is not one counter under rate() or increase()")
    return leaves[0]


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
            out += [Series(dict(labels), _counter(per_role[role]), True) for labels, role in counters]
        return out

    def slice_series(self, flags: list[int | None]) -> list[Series]:
        out = []
        for variant, labels_of_leaves in enumerate(self.leaf_labels):
            for i, (leaf, labels) in enumerate(zip(self.leaves, labels_of_leaves, strict=True)):
                knobs = [self.bad_knobs[i] if flag and variant == 0 else self.good_knobs[i] for flag in flags]
                if leaf.counter:
                    out.append(Series(dict(labels), _counter([int(k) for k in knobs]), True))
                else:
                    out.append(Series(dict(labels), [float(k) for k in knobs], False))
        return _unique(out)

    # -- the reference model over inputs

    def events(self, engine: refmodel.PromQL, times: np.ndarray) -> Callable[[int], refmodel.Vector]:
        if self.error_ratio is not None:  # no counts: one "event" where the ratio is written
            ratios = self._ratios(engine, times)
            return _cached(lambda w: {k: (np.where(p, 1.0, math.nan), p) for k, (_, p) in ratios(w).items()})
        return _cached(lambda w: _no_name(engine.evaluate(self.total, times, w)))

    def _ratios(self, engine: refmodel.PromQL, times: np.ndarray) -> Callable[[int], refmodel.Vector]:
        """The precomputed ratio as the rules record it: ``(query) >= 0 <= 1``."""
        def ratio(w: int) -> refmodel.Vector:
            out = {}
            for key, (v, present) in _no_name(engine.evaluate(self.error_ratio, times, w)).items():
                with np.errstate(invalid="ignore"):
                    kept = present & (v >= 0) & (v <= 1)
                out[key] = (np.where(kept, v, math.nan), kept)
            return out
        return _cached(ratio)

    def errors(self, engine: refmodel.PromQL, times: np.ndarray,
               events: Callable[[int], refmodel.Vector]) -> Callable[[int], refmodel.Vector]:
        if self.error_ratio is not None:
            return self._ratios(engine, times)
        if self.bad_given:
            return _cached(lambda w: _no_name(engine.evaluate(self.numerator, times, w)))

        def bad(w: int) -> refmodel.Vector:  # clamp_min((total) - (good), 0)
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

    def bad_slices(self, engine: refmodel.PromQL, times: np.ndarray) -> refmodel.Vector:
        """1/0 per group and evaluation: the slice ending then is bad (judged on its worst value)."""
        if self.slice_seconds > self.interval:
            worst = "max" if self.bad_op in (">", ">=") else "min"
            value = engine.over_time(self.query, times, 0, self.slice_seconds, self.interval, worst)
        else:
            value = engine.evaluate(self.query, times, 0)
        if not isinstance(value, dict):
            raise refmodel.Unsupported("the query is a number, not a vector")
        compare = refmodel.COMPARE[self.bad_op]
        out = {}
        for key, (v, present) in _no_name(value).items():
            with np.errstate(invalid="ignore"):
                out[key] = (np.where(present, compare(v, self.limit).astype(float), math.nan), present)
        return out


def _cached(fn: Callable[[int], refmodel.Vector]) -> Callable[[int], refmodel.Vector]:
    memo: dict[int, refmodel.Vector] = {}

    def get(window: int) -> refmodel.Vector:
        if window not in memo:
            memo[window] = fn(window)
        return memo[window]
    return get


def _no_name(value: refmodel.Vector | np.ndarray) -> refmodel.Vector:
    """A query's groups as a recording rule writes them (the metric name replaced)."""
    if not isinstance(value, dict):
        raise refmodel.Unsupported("the query is a number, not a vector")
    out = {}
    for key, sample in value.items():
        plain = tuple(kv for kv in key if kv[0] != "__name__")
        if plain in out:
            raise refmodel.Unsupported("the query returns series that differ only in their name")
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
    """The recipe of a ratio or timeslice SLO's inputs; raises refmodel.Unsupported with the reason."""
    sli = p.slo.sli
    if isinstance(sli, RatioSLI):
        return _ratio_sli(sli)
    if isinstance(sli, TimesliceSLI):
        return _timeslice_sli(sli, interval)
    raise refmodel.Unsupported(f"a {p.queries.kind} SLI is not custom")


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
    except refmodel.Unsupported:
        # any other shape (total - good, a sum of counters, a name regex): search the roles
        return _search_roles(n_leaves + t_leaves, group_by, make)


def _any_name(leaves: list[Leaf]) -> bool:
    return any(leaf.matchers[0][1] != "=" for leaf in leaves)


def _one_counter_each(n_leaves: list[Leaf], t_leaves: list[Leaf], group_by: list[str], bad_given: bool,
                      make: Callable[[list, int], CustomSli]) -> CustomSli:
    """The common shape, found directly: one counter on each side (bad or good, and total)."""
    n_leaf = _single_counter(n_leaves, "bad" if bad_given else "good")
    t_leaf = _single_counter(t_leaves, "total")
    variants = _variants(group_by, [n_leaf, t_leaf])
    role, other = (BAD_ROLE, GOOD_ROLE) if bad_given else (GOOD_ROLE, BAD_ROLE)
    counters = []
    for variant in range(variants):
        ln = _leaf_labels(n_leaf, group_by, variant)
        lt = _leaf_labels(t_leaf, group_by, variant)
        if _selects(t_leaf, ln):  # the numerator's series are part of the total: add the rest
            rest = _outside(ln, n_leaf, t_leaf)  # e.g. code="200" beside code="500"
            if rest is None and lt != ln and not _selects(n_leaf, lt):
                rest = lt
            if rest is None:
                raise refmodel.Unsupported("no series found that the total counts and the "
                                           f"{role} query does not")
            counters.append([(ln, role), (rest, other)])
        else:
            if _selects(n_leaf, lt):
                raise refmodel.Unsupported(f"the {role} query also counts the total's series")
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
            labels = _leaf_labels(dataclasses.replace(leaf, name=name), group_by, variant)
            if len(names) > 1 and APART not in labels:
                # rate() drops the name: series of several names must differ in another label
                trial = {**labels, APART: name}
                labels = trial if _selects(leaf, trial) else labels
            out.setdefault(tuple(sorted(labels.items())), labels)
            for other in leaves:
                if other is not leaf and _selects(other, labels):
                    outside = _outside(labels, other, leaf)
                    if outside is not None:
                        out.setdefault(tuple(sorted(outside.items())), outside)
    return list(out.values())


def _search_roles(leaves: list[Leaf], group_by: list[str], make: Callable[[list, int], CustomSli]) -> CustomSli:
    """Counters for the selectors, each counting the good, the bad or all events (or not written):
    the first assignment under which the reference model reads the intended error ratios is taken."""
    distinct = list({leaf.matchers: leaf for leaf in leaves}.values())
    if not distinct or any(not leaf.counter for leaf in distinct):
        raise refmodel.Unsupported("its queries read something other than counters under rate() or increase()")
    variants = _variants(group_by, distinct)
    candidates = [_candidates(distinct, group_by, v) for v in range(variants)]
    if any(len(c) != len(candidates[0]) for c in candidates) or len(candidates[0]) > MAX_SEARCHED_SERIES:
        raise refmodel.Unsupported(f"its queries need more than {MAX_SEARCHED_SERIES} kinds of series")
    for roles in itertools.product((TOTAL_ROLE, GOOD_ROLE, BAD_ROLE, None), repeat=len(candidates[0])):
        if not any(roles):
            continue
        counters = [[(labels, role) for labels, role in zip(candidates[v], roles, strict=True) if role]
                    for v in range(variants)]
        custom = make(counters, variants)
        try:
            _check_ratio(custom)
        except refmodel.Unsupported:
            continue
        return custom
    raise refmodel.Unsupported("no counters found for its selectors that give the intended error ratio")


def _check_ratio(custom: CustomSli) -> None:
    """The synthesised series must give each group the intended error ratio (10%, then 50%)."""
    n = 12
    times = np.array([float((n - 1) * STEP)])
    for good, bad in ((900, 100), (500, 500)):
        series = custom.event_series([good] * n, [bad] * n)
        engine = refmodel.PromQL([(s.labels, s.values) for s in series], STEP)
        events = custom.events(engine, times)
        errors = custom.errors(engine, times, events)(300)
        totals = events(300)
        ratios = {k: errors[k][0][0] / totals[k][0][0] for k in totals
                  if k in errors and totals[k][1][0] and totals[k][0][0] > 0}
        expected = [bad / (good + bad)] + [0.0] * (custom.variants - 1)
        if len(ratios) != custom.variants or sorted(round(r, 9) for r in ratios.values()) != sorted(expected):
            raise refmodel.Unsupported("the series written for its selectors do not give the intended error ratio")


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
        raise refmodel.Unsupported("its query reads no selector or more than two")
    variants = _variants(group_by, leaves)
    leaf_labels = [[_leaf_labels(leaf, group_by, v) for leaf in leaves] for v in range(variants)]
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
        raise refmodel.Unsupported("no input values found that make a slice good and another bad")
    custom.good_knobs, custom.bad_knobs = good, bad
    return custom


def _slice_verdict(custom: CustomSli, knobs: tuple[float, ...]) -> bool | None:
    """Whether steady inputs at these values make every group's slice bad (True), good (False), else None."""
    n = 15
    probe = CustomSli(**{**custom.__dict__, "good_knobs": knobs, "bad_knobs": knobs, "variants": 1,
                         "leaf_labels": custom.leaf_labels[:1]})
    series = probe.slice_series([0] * n)
    engine = refmodel.PromQL([(s.labels, s.values) for s in series], STEP)
    bad = probe.bad_slices(engine, np.array([float((n - 1) * STEP)]))  # a shape outside the model raises
    verdicts = {bool(v[0]) for v, present in bad.values() if present[0]}
    return verdicts.pop() if len(verdicts) == 1 and len(bad) == 1 else None


# --- the reference model over the inputs -----------------------------------------------------


@dataclass(frozen=True)
class Firing:
    alertname: str
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...]


def _metric_names(p: SloPlan) -> set[str]:
    q = p.queries
    sets = q.errors_sets + q.good_sets + q.events_sets + q.slice_sets + q.traffic_sets
    return {v for s in sets for label, op, v in s if label == "__name__" and op == "="}


def _selected(sets: tuple, scenario: Scenario) -> list[Series]:
    """The input series any of the matcher sets selects (each set names its metric)."""
    out: dict[int, Series] = {}
    for matchers in sets:
        name = next(v for label, op, v in matchers if label == "__name__" and op == "=")
        model = next((v for label, op, v in matchers if label == "model" and op == "="), None)
        for s in scenario.named(name, model):
            if id(s) not in out and matches(s.labels, matchers):
                out[id(s)] = s
    return list(out.values())


def _by_group(selected: list[Series]) -> dict[refmodel.LabelKey, list[Series]]:
    """Series by the (model, version) group the rules sum them into."""
    groups: dict[refmodel.LabelKey, list[Series]] = {}
    for s in selected:
        key = refmodel.label_key({"model": s.labels.get("model", ""), "version": s.labels.get("version", "")})
        groups.setdefault(key, []).append(s)
    return groups


class VectorRate(refmodel.RateFn):
    """One group of a custom query's result, as a rate by window (absent where the group is)."""

    def __init__(self, vectors: Callable[[int], refmodel.Vector], key: refmodel.LabelKey, length: int) -> None:
        self.vectors, self.key, self.length = vectors, key, length
        self.memo: dict[int, np.ndarray] = {}

    def array(self, window: int, length: int) -> np.ndarray:
        if window not in self.memo:
            values, present = self.vectors(window).get(self.key, (np.full(self.length, math.nan),
                                                                  np.zeros(self.length, dtype=bool)))
            if (present & np.isnan(values)).any():
                raise refmodel.Unsupported("its query gives NaN for the inputs written")
            self.memo[window] = np.where(present, values, math.nan)
        return self.memo[window]

    def __call__(self, index: int, window: int) -> float | None:
        value = self.array(window, self.length)[index]
        return None if value != value else float(value)


def _custom_models(p: SloPlan, custom: CustomSli, scenario: Scenario) -> dict:
    engine, length = scenario.engine(), scenario.length
    times = np.arange(length, dtype=float) * STEP
    out: dict = {}
    if custom.kind == "timeslice":
        for key, (bad, present) in custom.bad_slices(engine, times).items():
            out[key] = refmodel.SliceModel.from_bad([float(b) if ok else None for b, ok in
                                                     zip(bad.tolist(), present.tolist(), strict=True)], STEP)
        return out
    events = custom.events(engine, times)
    errors = custom.errors(engine, times, events)
    for key in events(p.base):
        if key in errors(p.base):
            out[key] = refmodel.EventModel(VectorRate(errors, key, length), VectorRate(events, key, length), length,
                                           STEP, p.base)
    return out


def _models(p: SloPlan, scenario: Scenario, custom: CustomSli | None = None) -> dict:
    """The reference model of each group (model and version, or the custom query's) the SLO reads."""
    if custom is not None:
        return _custom_models(p, custom, scenario)
    series = scenario
    q = p.queries
    out: dict = {}
    if q.slices:
        for group, gauges in _by_group(_selected(q.slice_sets, series)).items():
            values = [g.values for g in gauges]
            out[group] = _shared(("slices", q.slice_seconds, q.slice_limit, _content(values)),
                                 lambda v=values: refmodel.SliceModel(v, STEP, q.slice_seconds, q.slice_limit))
        return out
    events = _by_group(_selected(q.events_sets, series))
    errors = _by_group(_selected(q.errors_sets, series)) if q.errors_sets else {}
    good = _by_group(_selected(q.good_sets, series)) if q.good_sets else {}
    length = scenario.length
    for group, counters in events.items():
        bad, by = (errors, "errors") if q.errors_sets else (good, "good")
        if group not in bad:
            continue
        total, part = [c.values for c in counters], [c.values for c in bad[group]]

        def build(total: list = total, part: list = part, by: str = by) -> refmodel.EventModel:
            events_rate = refmodel.summed_rate(total, STEP)
            if by == "errors":
                errors_rate = refmodel.summed_rate(part, STEP)
            else:
                errors_rate = refmodel.difference_rate(events_rate, refmodel.summed_rate(part, STEP))
            return refmodel.EventModel(errors_rate, events_rate, length, STEP, p.base)

        out[group] = _shared(("events", p.base, by, _content(total), _content(part)), build)
    return out


# Reference models by the input values they read: SLOs of the same shape over other models read
# equal values, and share one model (and the ratio arrays it caches). Emptied for each spec.
_SHARED_MODELS: dict[tuple, object] = {}


def _memo(kind: str, model: object, *args: object) -> tuple[dict, tuple]:
    key = (kind, id(model), *args)
    return _SHARED_MODELS.setdefault(("memo", kind), {}), key


def _fires(model, tier: refmodel.Tier, budget: Decimal, index: int, min_events: int) -> float | None:  # noqa: ANN001
    memo, key = _memo("fires", model, id(tier), budget, index, min_events)
    if key not in memo:
        memo[key] = refmodel.fires(model, tier, budget, index, min_events)
    return memo[key]


def _fires_states(model, tier: refmodel.Tier, budget: Decimal, length: int,  # noqa: ANN001
                  min_events: int) -> tuple[np.ndarray, np.ndarray]:
    memo, key = _memo("fires_states", model, id(tier), budget, length, min_events)
    if key not in memo:
        memo[key] = refmodel.fires_states(model, tier, budget, length, min_events)
    return memo[key]


def _budget_remaining(model, period: int, budget: Decimal, index: int) -> float | None:  # noqa: ANN001
    memo, key = _memo("budget", model, period, budget, index)
    if key not in memo:
        memo[key] = refmodel.budget_remaining(model, period, budget, index, exact=False)
    return memo[key]


def _content(columns: list[list[float]]) -> tuple:
    return tuple(tuple(column) for column in columns)


def _shared(key: tuple, build: Callable[[], object]) -> object:
    if key not in _SHARED_MODELS:
        _SHARED_MODELS[key] = build()
    return _SHARED_MODELS[key]


def _tiers(p: SloPlan) -> list[refmodel.Tier]:
    """The SLO's tiers, one object for equal tiers of a spec (the memos key them by identity)."""
    def window(seconds: int) -> refmodel.Window:
        return refmodel.Window(seconds, raw=p.raw_window(seconds) or p.queries.slices)
    pool = _SHARED_MODELS.setdefault(("tiers",), {})
    out = []
    for t in p.tiers:
        tier = refmodel.Tier(t.name, t.severity, t.factor, window(t.long_window), window(t.short_window))
        out.append(pool.setdefault(tier, tier))
    return out


def _ambiguous(text: Callable[[float], str], value: float) -> bool:
    """Whether a value known to ~1e-9 (relative) might print differently when exact."""
    spread = max(abs(value) * 1e-7, 1e-12)
    return text(value - spread) != text(value + spread)


def humanize_percentage(value: float) -> str:
    return "%.4g%%" % (value * 100)


_TEMPLATES: dict[int, tuple[SloPlan, str]] = {}


def _budget_left_template(p: SloPlan) -> str:
    """``rules.budget_left_template``, made once per plan (it is asked for every alert rendered)."""
    if id(p) not in _TEMPLATES or _TEMPLATES[id(p)][0] is not p:
        _TEMPLATES[id(p)] = (p, budget_left_template(p))
    return _TEMPLATES[id(p)][1]


def _render(template: str, labels: dict[str, str], value: float, budget_left: str, p: SloPlan) -> str:
    """Our own alert templates, filled in as Prometheus does."""
    text = template.replace(_budget_left_template(p), budget_left)
    text = text.replace('{{ printf "%.2f" $value }}', f"{value:.2f}")
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)


def _static_annotations_ok(p: SloPlan) -> bool:
    """User annotations we can fill in (``{{ $labels.x }}`` at most)."""
    rest = [re.sub(r"\{\{ \$labels\.\w+ \}\}", "", v) for v in p.slo.alerting.annotations.values()]
    return not any("{{" in v for v in rest)


def _annotations(rule: dict, render: Callable[[str], str]) -> tuple:
    return tuple(sorted((k, render(v)) for k, v in rule["annotations"].items()))


@dataclass(frozen=True)
class PlanFacts:
    alertname: str
    burn_rules: list[dict]
    tiers: list[refmodel.Tier]
    budget: Decimal
    min_events: int
    labels: dict[str, str]


class SpecIndex:
    """The SLOs of a spec the tests can model, found by the series they read (a spec may hold thousands)."""

    def __init__(self, plans: list[SloPlan], rules: dict[str, list[dict]], custom: dict[str, CustomSli]) -> None:
        self.rules = rules
        self.custom = custom  # custom SLOs the reference model evaluates, by SLO name
        self.budget_lag: dict[str, int] = {}  # evaluations the alerts' "budget left" lags behind
        self._facts: dict[int, PlanFacts] = {}
        self.by_key: dict[tuple[str, str], list[SloPlan]] = {}
        self.watching: list[tuple[SloPlan, dict]] = []
        self.any_name: list[SloPlan] = []  # custom SLOs whose selectors match names by regex
        for p in plans:
            if not p.queries.per_model and p.slo.name not in custom:
                continue
            models = [m.name for m in p.spec.models_of(p.slo)] if p.queries.per_model else []
            names = _metric_names(p) if p.queries.per_model else custom[p.slo.name].names
            if not p.queries.per_model and custom[p.slo.name].any_name:
                self.any_name.append(p)  # a name regex: it may read any test's series
                names = set()
            for name in names:
                for model in models or ["*"]:
                    self.by_key.setdefault((name, model), []).append(p)
            rule = next((r for r in rules[p.slo.name] if r.get("alert") == NO_TRAFFIC_ALERT), None)
            if rule is not None:
                self.watching.append((p, rule))

    def facts(self, p: SloPlan) -> PlanFacts:
        """What the reference model asks of an SLO again and again, worked out once."""
        facts = self._facts.get(id(p))
        if facts is None:
            facts = self._facts[id(p)] = PlanFacts(
                p.alertname, [r for r in self.rules[p.slo.name] if r.get("alert") == p.alertname], _tiers(p),
                p.budget, p.slo.alerting.min_events, p.labels)
        return facts

    def readers(self, series: list[Series]) -> list[SloPlan]:
        """SLOs that may read any of these series, in spec order."""
        found: dict[int, SloPlan] = {}
        for p in self.any_name:
            found[id(p)] = p
        for s in series:
            name, model = s.labels["__name__"], s.labels.get("model", "")
            for p in self.by_key.get((name, model), []) + self.by_key.get((name, "*"), []):
                found[id(p)] = p
        return list(found.values())


class Reference:
    """What SLOs make fire for one test's inputs: ``plans`` (default: every SLO of the spec that
    reads them), for the alerts named."""

    def __init__(self, index: SpecIndex, scenario: Scenario, alertnames: list[str],
                 plans: list[SloPlan] | None = None) -> None:
        self.scenario = scenario
        self.burning, self.watching = [], []
        readers = index.readers(scenario.series) if plans is None else plans
        for p in readers:
            facts = index.facts(p)
            if facts.alertname in alertnames:
                self.burning.append((p, facts, scenario.models(p, index.custom.get(p.slo.name))))
        self.custom = index.custom
        self.budget_lag = index.budget_lag
        self._states: tuple | None = None
        if NO_TRAFFIC_ALERT in alertnames:
            chosen = None if plans is None else {id(p) for p in plans}
            self.watching = [(p, r) for p, r in index.watching if chosen is None or id(p) in chosen]

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
                remaining = _budget_remaining(model, p.period, budget, at) if at >= 0 else None
                if remaining is not None and _ambiguous(humanize_percentage, remaining):
                    remaining = refmodel.budget_remaining(model, p.period, budget, at)
                left = "unknown" if remaining is None else humanize_percentage(remaining)
                for tier, rule in zip(facts.tiers, facts.burn_rules, strict=True):
                    value = _fires(model, tier, budget, index, min_events)
                    if value is None:
                        continue
                    if _ambiguous(lambda v: f"{v:.2f}", value):
                        value = refmodel.fires(model, tier, budget, index, min_events, exact=True)
                    labels = {**series_labels, **rule["labels"]}
                    annotations = _annotations(
                        rule, lambda t, lb=labels, v=value, b=left, sp=p: _render(t, lb, v, b, sp))
                    out.add(Firing(facts.alertname, tuple(sorted(labels.items())), annotations))
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
                burn = self.scenario._burn_states.get(p.slo.name)
                if burn is None:
                    burn = self.scenario._burn_states[p.slo.name] = _burn_states(facts, models, length)
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
                if not unsure[r, index] or _fires(model, tier, budget, index, min_events) is not None:
                    found.add(alert)
            for p, rule in self.watching:
                found |= self._no_traffic(p, rule, index, annotate=False)
            out[index] = found
        return out

    def _traffic(self, p: SloPlan, window: int) -> dict[refmodel.LabelKey, np.ndarray]:
        """Events per second over ``window`` of each group the SLO reads, at every sample (NaN: absent)."""
        key = (p.slo.name, window)
        if key not in self.scenario._traffic:
            self.scenario._traffic[key] = self._traffic_rates(p, window)
        return self.scenario._traffic[key]

    def _traffic_rates(self, p: SloPlan, window: int) -> dict[refmodel.LabelKey, np.ndarray]:
        length = self.scenario.length
        custom = self.custom.get(p.slo.name)
        if custom is not None:
            events = custom.events(self.scenario.engine(), np.arange(length, dtype=float) * STEP)
            return {key: np.where(present, values, math.nan) for key, (values, present) in events(window).items()}
        selected = _selected(p.queries.traffic_sets, self.scenario)
        return {group: refmodel.summed_rate([c.values for c in counters], STEP).array(window, length)
                for group, counters in _by_group(selected).items()}

    def _no_traffic(self, p: SloPlan, rule: dict, index: int, annotate: bool) -> set[Firing]:
        out = set()
        for group, rates in self._traffic(p, p.slo.alerting.no_traffic_for).items():
            if rates[index] == 0:
                out.add(self._no_traffic_firing(p, rule, dict(group), annotate))
        for matchers in p.queries.absent_sets:
            if not _selected((matchers,), self.scenario):
                out.add(self._no_traffic_firing(p, rule, {k: v for k, op, v in matchers if k != "__name__"}, annotate))
        return out

    def _no_traffic_firing(self, p: SloPlan, rule: dict, expr_labels: dict[str, str], annotate: bool) -> Firing:
        labels = {**expr_labels, **rule["labels"]}
        annotations = _annotations(rule, lambda t: _render(t, labels, 0.0, "", p)) if annotate else ()
        return Firing(NO_TRAFFIC_ALERT, tuple(sorted(labels.items())), annotations)


def _burn_states(facts: PlanFacts, models: dict, length: int) -> tuple[list, np.ndarray, np.ndarray]:
    """An SLO's burn-rate alerts in one test: (rows, firing, unsure), a row per (group, tier)."""
    rows, firing, unsure = [], [], []
    for group, model in models.items():
        series_labels = {**dict(group), **facts.labels}  # a recording rule's labels win
        for tier, rule in zip(facts.tiers, facts.burn_rules, strict=True):
            labels = tuple(sorted({**series_labels, **rule["labels"]}.items()))
            rows.append((Firing(facts.alertname, labels, ()), model, tier, facts.budget, facts.min_events))
            fires, near = _fires_states(model, tier, facts.budget, length, facts.min_events)
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


# --- promtool test file ----------------------------------------------------------------------


def _values_text(values: list[float]) -> str:
    """promtool's series notation: runs of equal steps as ``a+bxn``."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    nan = np.isnan(v)
    d = np.diff(v)
    same = np.zeros(len(d), dtype=bool)
    same[1:] = d[1:] == d[:-1]  # NaN never equals: a NaN ends a run
    breaks = np.flatnonzero(~same)
    numbers = np.flatnonzero(~nan)
    parts, i = [], 0
    while i < n:
        if nan[i]:
            after = np.searchsorted(numbers, i)
            j = (int(numbers[after]) if after < len(numbers) else n) - 1
            parts.append("NaN" if j == i else f"NaNx{j - i}")
        elif i + 1 < n and not nan[i + 1]:
            at = np.searchsorted(breaks, i + 1)
            j = int(breaks[at]) if at < len(breaks) else n - 1
            step = float(d[i])
            parts.append(f"{_num(float(v[i]))}{'+' if step >= 0 else '-'}{_num(abs(step))}x{j - i}")
        else:
            j = i
            parts.append(_num(float(v[i])))
        i = j + 1
    return " ".join(parts)


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


# --- merged tests: one promtool test per scenario for many SLOs ----------------------------------
# promtool evaluates every rule of the file at every step of every test, so the cost of the
# tests grows with (tests x steps x rules). The scenarios of SLOs whose inputs do not collide
# share one test (the shorter ones continue their last phase to the test's length); each SLO is
# still checked at its own moments, on its own alerts (``ALERTS{slo=...}``).


def _padded(series: Series, length: int) -> Series:
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
    length = max(scenario.length for _, scenario in members)
    series: dict[str, Series] = {}
    for _, scenario in members:
        for s in scenario.series:
            series.setdefault(s.text(), _padded(s, length))
    return Scenario(name, list(series.values()), length)


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


def _labels_text(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={quote(v)}" for k, v in sorted(labels.items())) + "}"


def _state(check: SloCheck, index: int) -> set[Firing]:
    """What the SLO fires at any moment: alerts change only at checked moments."""
    points = check.points
    at = bisect.bisect_right(points, index) - 1
    return check.timeline[points[at]] if at >= 0 else check.timeline[points[0]]


def _expr_tests(checks: list[SloCheck]) -> list[dict]:
    """At every checked moment, the alerts of the SLOs checked then, per alert name, in one query
    (``count by (slo, tier, ...)`` of ``ALERTS``: only these SLOs' alerts, whatever else fires)."""
    at: dict[tuple[int, str], list[SloCheck]] = {}
    for check in checks:
        for index in check.timeline:
            at.setdefault((index, check.alertname), []).append(check)
    out = []
    for (index, alertname), members in sorted(at.items()):
        by = ["slo", "tier", *sorted({label for c in members for label in c.by})]
        names = [c.plan.slo.name for c in members]
        slo = f"slo={quote(names[0])}" if len(names) == 1 else f"slo=~{quote(alternation(names))}"
        service = quote(members[0].plan.spec.service.name)
        samples = sorted(_labels_text({k: v for k, v in f.labels if k in by})
                         for c in members for f in c.timeline[index] if f.alertname == alertname)
        out.append({"expr": f"count by ({', '.join(by)}) (ALERTS{{alertname={quote(alertname)}, "
                            f"alertstate=\"firing\", service={service}, {slo}}})",
                    "eval_time": format_duration(index * STEP),
                    "exp_samples": [{"labels": s, "value": 1} for s in samples]})
    return out


def _annotation_plan(index: SpecIndex, built: list[tuple[Scenario, list[SloCheck]]], unchecked: set[str],
                     failed: set[str]) -> dict[tuple[int, str], set[int]]:
    """(test, alert name) -> moments of full alert checks (labels and annotations).

    promtool's alert checks list every alert of a name firing in the test, from every SLO that
    reads its inputs. Candidates are, per test and alert name, the checked moment where most of
    its SLOs' alerts fire; a greedy cover then picks candidates until each alert (SLO, tier,
    group) was listed once, preferring those that list few alerts already seen.
    """
    candidates = []  # (test number, alertname, moment, alerts listed)
    for number, (test, checks) in enumerate(built):
        for alertname in sorted({c.alertname for c in checks} - unchecked):
            members = [c for c in checks if c.alertname == alertname]
            points = sorted({i for c in members for i in c.timeline})
            if not points:
                continue
            moment = max(points, key=lambda i, m=members: (sum(len(_state(c, i)) for c in m), -i))
            try:
                listed = {f.labels for f in Reference(index, test, [alertname]).timeline([moment])[moment]
                          if f.alertname == alertname}
            except refmodel.Unsupported:
                continue  # a reader the model cannot evaluate there: the per-SLO checks remain
            if listed and not {dict(f).get("slo") for f in listed} & failed:
                candidates.append((number, alertname, moment, listed))
    # Lazy greedy: a candidate's score only falls as more is covered, so a popped score that is
    # still current is the best (ties: the earlier candidate, as max() over the list would pick).
    covered: set = set()
    chosen: dict[tuple[int, str], set[int]] = {}

    def score(listed: set) -> tuple[float, int]:
        fresh = len(listed - covered)
        return fresh / len(listed), fresh

    heap = [(-1.0, -len(c[3]), i) for i, c in enumerate(candidates)]
    heapq.heapify(heap)
    while heap:
        ratio, fresh, i = heapq.heappop(heap)
        now = score(candidates[i][3])
        if (-now[0], -now[1]) != (ratio, fresh):
            heapq.heappush(heap, (-now[0], -now[1], i))
            continue
        if not now[1]:
            break
        number, alertname, moment, listed = candidates[i]
        covered |= listed
        chosen.setdefault((number, alertname), set()).add(moment)
    return chosen


def _alert_tests(index: SpecIndex, test: Scenario, alertname: str, moments: list[int],
                 failed: set[str]) -> list[dict]:
    """Full alert checks (labels and annotations of every alert of that name, whichever SLO
    fires it) at a few moments; none where an SLO the model cannot evaluate reads the inputs."""
    if not moments:
        return []
    try:
        ref = Reference(index, test, [alertname])
        firings = {moment: ref.firing(moment) for moment in moments}
    except refmodel.Unsupported:
        return []
    out = []
    for moment in moments:
        firing = sorted((f for f in firings[moment] if f.alertname == alertname), key=lambda f: f.labels)
        if {dict(f.labels).get("slo") for f in firing} & failed:
            continue
        out.append({"eval_time": format_duration(moment * STEP), "alertname": alertname,
                    "exp_alerts": [{"exp_labels": dict(f.labels), "exp_annotations": dict(f.annotations)}
                                   for f in firing]})
    return out


@dataclass
class SpecTests:
    document: dict
    notes: list[str]
    # per SLO and scenario: sample index -> firing set (labels only; for the Python tests of this module)
    timelines: dict[tuple[str, str], dict[int, set[Firing]]]


def budget_lags(spec: Spec, evaluation_interval: int) -> dict[str, int]:
    """Per SLO, 1 where the rule file evaluates the budget left after the SLO's alerts (a later
    group, or later in the group): promtool evaluates every group at every step, in file order,
    so the alerts' "budget left" query then reads the previous evaluation's value."""
    original = spec
    # The layout is the same for every SLO of a spec: read it from the first one (the rule file
    # of thousands of SLOs is not built twice).
    spec = dataclasses.replace(spec, slos=spec.slos[:1])
    groups = rules_module.rule_groups(spec, evaluation_interval)[0]
    first_alert: dict[str, int] = {}
    budget_at: dict[str, int] = {}
    position = 0
    for group in groups:
        for rule in group["rules"]:
            position += 1
            slo = rule.get("labels", {}).get("slo", "")
            if rule.get("alert") and rule["alert"] != NO_TRAFFIC_ALERT:
                first_alert.setdefault(slo, position)
            elif rule.get("record") == BUDGET_REMAINING:
                budget_at[slo] = position
    lag = 1 if any(budget_at.get(slo, 0) > at for slo, at in first_alert.items()) else 0
    return {slo.name: lag for slo in original.slos}


def _custom_slis(plans: list[SloPlan], interval: int, notes: list[str]) -> dict[str, CustomSli]:
    """The custom SLOs whose inputs can be written and evaluated; a note for each of the others."""
    out = {}
    for p in plans:
        if p.queries.per_model:
            continue
        try:
            out[p.slo.name] = custom_sli(p, interval)
        except refmodel.Unsupported as exc:
            notes.append(f"{p.spec.service.name}/{p.slo.name}: no generated test ({p.queries.kind} SLI: {exc}); "
                         "promtool check rules covers its syntax")
    return out


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


@dataclass
class SpecContext:
    """What every part of a spec's tests reads: plans, rules, custom SLIs, the index of readers."""

    plans: list[SloPlan]
    custom: dict[str, CustomSli]
    index: SpecIndex
    notes: list[str]  # about custom SLIs the model cannot evaluate


def spec_context(made: SpecRules) -> SpecContext:
    spec, evaluation_interval = made.spec, made.interval
    groups, plans = made.slo_groups(), made.plans
    rules = {p.slo.name: g["rules"] for p, g in zip(plans, groups, strict=True)}
    notes: list[str] = []
    custom = _custom_slis(plans, evaluation_interval, notes)
    index = SpecIndex(plans, rules, custom)
    index.budget_lag = budget_lags(spec, evaluation_interval)
    return SpecContext(plans, custom, index, notes)


def build_tests(spec: Spec, evaluation_interval: int, part: tuple[int, int] = (0, 1),
                context: SpecContext | None = None) -> SpecTests:
    """The tests of a spec's SLOs (of one ``part`` of ``partition``: (number, parts)); every SLO
    of the spec is still a reader of the inputs, whichever part writes its tests."""
    context = context or spec_context(rules_module.spec_rules(spec, evaluation_interval))
    plans, custom, index = context.plans, context.custom, context.index
    _SHARED_MODELS.clear()
    own = partition(plans, part[1])[part[0]] if part[1] > 1 else {p.slo.name for p in plans}
    notes = [n for n in context.notes if n.split(": ", 1)[0].split("/", 1)[-1] in own]
    # Alerts of custom SLOs the model cannot evaluate could fire in any test: the full alert checks
    # (every alert of a name) then leave their alert name out; the per-SLO checks are unaffected.
    unknown = any(not p.queries.per_model and p.slo.name not in custom for p in plans)
    unchecked_names = {"TritonSloCustomBudgetBurn", NO_TRAFFIC_ALERT} if unknown else set()
    by_scenario: dict[tuple[str, int], list[tuple[SloPlan, Scenario]]] = {}
    for p in plans:
        where = f"{spec.service.name}/{p.slo.name}"
        if p.slo.name not in own or not p.queries.per_model and p.slo.name not in custom:
            continue
        if not _static_annotations_ok(p):
            notes.append(f"{where}: no generated test (its alert annotations use templates the tests cannot "
                         "fill in)")
            continue
        for scenario in scenarios(p, custom.get(p.slo.name)):
            # Scenarios of a similar length share tests (the shorter ones are continued to the longest).
            by_scenario.setdefault((scenario.name, max(scenario.length - 1, 1).bit_length()), []).append((p, scenario))

    tests, timelines, failed = [], {}, set()
    built: list[tuple[Scenario, list[SloCheck]]] = []
    for (name, _), items in by_scenario.items():
        for members in pack(items):
            test = merge(name, members)
            checks = []
            for p, own in members:
                # Silence is where no-traffic alerts are checked; elsewhere the SLO's burn-rate alert.
                alertname = NO_TRAFFIC_ALERT if name == "silence" else p.alertname
                try:
                    ref = Reference(index, test, [alertname], [p])
                    timeline = ref.timeline(check_points(ref, test, own.length - 1))
                except refmodel.Unsupported as exc:
                    failed.add(p.slo.name)
                    notes.append(f"{spec.service.name}/{p.slo.name}: no generated {name} test "
                                 f"({p.queries.kind} SLI: {exc})")
                    continue
                timelines[(p.slo.name, name)] = timeline
                checks.append(SloCheck(p, alertname, timeline, ref.group_labels()))
            built.append((test, checks))

    moments = _annotation_plan(index, built, unchecked_names, failed)

    for number, (test, checks) in enumerate(built):
        if not checks:
            continue
        alert_tests = []
        for (at_test, alertname), chosen in sorted(moments.items()):
            if at_test == number:
                alert_tests += _alert_tests(index, test, alertname, sorted(chosen), failed)
        slos = [c.plan.slo.name for c in checks]
        tests.append({
            "name": f"{test.name}: " + (", ".join(slos) if len(slos) <= 3 else f"{slos[0]} and {len(slos) - 1} more"),
            "interval": format_duration(STEP),
            "input_series": [{"series": s.text(), "values": _values_text(s.values)} for s in test.series],
            "promql_expr_test": _expr_tests(checks),
            **({"alert_rule_test": alert_tests} if alert_tests else {}),
        })
    document = {
        "rule_files": [f"../rules/{names.slo_rule_file(spec.service.name)}"],
        "evaluation_interval": format_duration(STEP),
        "tests": tests,
    }
    return SpecTests(document, notes, timelines)


def dump_tests(document: dict) -> str:
    """The test file: block YAML for its structure, each list item one JSON line (JSON is YAML)."""
    out = ["rule_files:\n", *(f"  - {_json_line(f)}\n" for f in document["rule_files"]),
           f"evaluation_interval: {_json_line(document['evaluation_interval'])}\n", "tests:\n"]
    return "".join(out) + dump_test_items(document["tests"])


def _json_line(item: object) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(", ", ": "))


def dump_test_items(tests: list[dict]) -> str:
    """The items of the file's ``tests:`` list."""
    out = []
    for test in tests:
        out.append(f"  - name: {_json_line(test['name'])}\n    interval: {_json_line(test['interval'])}\n"
                   "    input_series:\n")
        out += [f"      - {_json_line(s)}\n" for s in test["input_series"]]
        for key in ("promql_expr_test", "alert_rule_test"):
            if test.get(key):
                out.append(f"    {key}:\n")
                out += [f"      - {_json_line(item)}\n" for item in test[key]]
    return "".join(out)


def test_file_name(spec: Spec) -> str:
    return names.slo_rule_file(spec.service.name)


def _part_text(spec: Spec, interval: int, part: tuple[int, int],
               context: SpecContext) -> tuple[str, list[str], int]:
    built = build_tests(spec, interval, part, context)
    return dump_test_items(built.document["tests"]), built.notes, len(built.document["tests"])


def build(made: list[SpecRules], options: Options) -> Built:
    """The promtool tests of each spec's SLO rules, ``OUT/tests/<service>-slo.yaml``."""
    result = Built()
    if options.target == "kubernetes":
        result.notes.append("SLO rule tests: not written for --target kubernetes (promtool reads plain rule files)")
        return result
    for spec_rules in made:
        spec, interval = spec_rules.spec, spec_rules.interval
        # A large spec's tests are built in two processes (two halves of its SLOs), on Linux.
        parts = 2 if fork_pays(len(spec.slos)) else 1
        context = spec_context(spec_rules)  # made once: the forked part inherits it
        others = [Background(_part_text, spec, interval, (k, parts), context) for k in range(1, parts)]
        try:
            pieces = [_part_text(spec, interval, (0, parts), context)] + [job.result() for job in others]
        finally:
            for job in others:
                job.stop()
        for _, notes, _ in pieces:
            result.notes.extend(notes)
        if not sum(count for _, _, count in pieces):
            continue
        rule_file = names.slo_rule_file(spec.service.name)
        header = dump_tests({"rule_files": [f"../{names.RULES_DIR}/{rule_file}"],
                             "evaluation_interval": format_duration(STEP), "tests": []})
        name = test_file_name(spec)
        text = (f"# promtool test rules {name}  (generated by triton-slo; expectations from slo/refmodel.py)\n"
                + header + "".join(text for text, _, _ in pieces))
        result.artifacts.append(Artifact(f"{names.TESTS_DIR}/{name}", "rule-tests", text, "text",
                                         service=spec.service.name))
    return result
