"""A PromQL subset, for the user's own queries (ratio and timeslice SLIs), evaluated over a test's
input series at many timestamps at once (numpy).

Prometheus 2.x semantics: closed ranges, ``rate()`` extrapolation, sums in series order, the NaN
rules of min/max. Anything else raises ``Unsupported``: the SLO then gets no generated test rather
than a guess.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import promql_parser as pp
from triton_slo.promql import matches
from triton_slo.ruletests.prometheus import incremental_mean, kahan_sum, rate_at

LOOKBACK = 300  # seconds an instant selector looks back (Prometheus' default lookback delta)
WINDOW_SENTINEL = 987654321  # seconds standing for ``{{.window}}`` while a query is parsed

LabelKey = tuple[tuple[str, str], ...]  # sorted (label, value) pairs, empty values left out
Sample = tuple[np.ndarray, np.ndarray]  # (values, present) at each evaluation time
Vector = dict[LabelKey, Sample]


class Unsupported(Exception):
    """A query the reference model cannot evaluate (the reason is the message)."""


def label_key(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted((k, v) for k, v in labels.items() if v != ""))


def _without_name(key: LabelKey) -> LabelKey:
    return tuple(kv for kv in key if kv[0] != "__name__")


def _keep_first(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    return np.where(present, values, math.nan)


def _reduce_min_max(matrix: np.ndarray, present: np.ndarray, op: str) -> Sample:
    """min/max over rows as Prometheus does: the first point, replaced by a lower (higher) one or over NaN."""
    out = np.full(matrix.shape[0], math.nan)
    seen = np.zeros(matrix.shape[0], dtype=bool)
    for j in range(matrix.shape[1]):
        v, p = matrix[:, j], present[:, j]
        better = (out > v) if op == "min" else (out < v)
        take = p & (~seen | better | np.isnan(out))
        out = np.where(take, v, out)
        seen |= p
    return out, seen


MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
COMPARE = {"==": np.equal, "!=": np.not_equal, ">": np.greater, "<": np.less, ">=": np.greater_equal,
            "<=": np.less_equal}
_ARITHMETIC = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def selector_matchers(selector: object) -> tuple[tuple[str, str, str], ...]:
    """A parsed selector's label matchers as (label, op, value), op one of ``= != =~ !~``."""
    return tuple((m.name, MATCH_OPS[str(m.op).rsplit(".", 1)[-1]], m.value) for m in selector.matchers.matchers)


class PromQL:
    """Evaluates a small subset of PromQL over sampled input series.

    ``series``: (labels with ``__name__``, samples every ``step`` seconds from 0). Supported:
    selectors with label matchers, ``rate``/``increase`` of counters, ``min_over_time`` and
    ``max_over_time`` of gauges or subqueries, ``sum``/``min``/``max``/``avg``/``count`` with or
    without ``by``/``without``, arithmetic and comparisons between vectors (one-to-one, optionally
    ``on``/``ignoring``) and numbers, unary minus and parentheses.
    """

    def __init__(self, series: Sequence[tuple[dict[str, str], Sequence[float]]], step: int) -> None:
        self.step = step
        self.by_name: dict[str, list[tuple[LabelKey, dict[str, str], np.ndarray]]] = {}
        for labels, values in series:
            self.by_name.setdefault(labels["__name__"], []).append(
                (label_key(labels), labels, np.asarray(values, dtype=float)))
        for rows in self.by_name.values():
            rows.sort(key=lambda row: row[0])  # Prometheus reads series in label order
        self._selected: dict[tuple, list] = {}

    def evaluate(self, expr: object, times: np.ndarray, window: float) -> Vector | np.ndarray:
        """The value of ``expr`` at ``times``; ranges written as ``WINDOW_SENTINEL`` read ``window``."""
        if isinstance(expr, pp.ParenExpr):
            return self.evaluate(expr.expr, times, window)
        if isinstance(expr, pp.NumberLiteral):
            return np.full(len(times), float(expr.val))
        if isinstance(expr, pp.UnaryExpr):
            inner = self.evaluate(expr.expr, times, window)
            if isinstance(inner, dict):
                return {_without_name(k): (-v, p) for k, (v, p) in inner.items()}
            return -inner
        if isinstance(expr, pp.VectorSelector):
            return self._instant(expr, times)
        if isinstance(expr, pp.Call):
            return self._call(expr, times, window)
        if isinstance(expr, pp.AggregateExpr):
            return self._aggregate(expr, times, window)
        if isinstance(expr, pp.BinaryExpr):
            return self._binary(expr, times, window)
        raise Unsupported(f"{type(expr).__name__} is not modelled")

    # selectors

    def select(self, selector: object) -> list[tuple[LabelKey, dict[str, str], np.ndarray]]:
        if selector.offset is not None or selector.at is not None:
            raise Unsupported("offset and @ are not modelled")
        if selector.matchers.or_matchers:
            raise Unsupported("a selector with `or` matchers is not modelled")
        wanted = selector_matchers(selector)
        key = (selector.name, wanted)
        if key not in self._selected:  # one query reads a selector at many windows: scan once
            if selector.name:
                rows = [row for row in self.by_name.get(selector.name, []) if matches(row[1], wanted)]
            else:  # {__name__=~"a|b", ...}: every name the matchers accept, in label order as Prometheus reads
                rows = sorted((row for name in self.by_name for row in self.by_name[name] if matches(row[1], wanted)),
                              key=lambda row: row[0])
            self._selected[key] = rows
        return self._selected[key]

    def _instant(self, selector: object, times: np.ndarray) -> Vector:
        out: Vector = {}
        index = np.floor(times / self.step).astype(int)
        for key, _, values in self.select(selector):
            at = np.clip(index, 0, len(values) - 1)
            present = (index >= 0) & (times - at * self.step <= LOOKBACK)
            out[key] = (np.where(present, values[at], math.nan), present)
        return out

    def _range(self, node: object, window: float) -> float:
        seconds = node.range.total_seconds()
        return window if seconds == WINDOW_SENTINEL else seconds

    def _call(self, call: object, times: np.ndarray, window: float) -> Vector:
        name = call.func.name
        args = list(call.args)
        if name in ("rate", "increase") and len(args) == 1 and isinstance(args[0], pp.MatrixSelector):
            w = self._range(args[0], window)
            return _named_apart([(_without_name(key), rate_at(values, self.step, times, w, name == "rate"))
                                 for key, _, values in self.select(args[0].vector_selector)])
        if name in ("avg_over_time", "sum_over_time") and len(args) == 1 and isinstance(args[0], pp.MatrixSelector):
            reduce = incremental_mean if name == "avg_over_time" else kahan_sum
            w = self._range(args[0], window)
            pairs = []
            for key, _, values in self.select(args[0].vector_selector):
                column, present = [], []
                for t in times.tolist():
                    first = max(0, math.ceil((t - w) / self.step))
                    last = min(len(values) - 1, math.floor(t / self.step))
                    picked = values[first:last + 1].tolist() if last >= first else []
                    column.append(reduce(picked) if picked else math.nan)
                    present.append(bool(picked))
                pairs.append((_without_name(key), (np.array(column), np.array(present))))
            return _named_apart(pairs)
        if name in ("min_over_time", "max_over_time") and len(args) == 1:
            op = name[:3]
            if isinstance(args[0], pp.MatrixSelector):
                w = self._range(args[0], window)
                first = np.ceil((times - w) / self.step)
                grid = (first[:, None] + np.arange(int(w // self.step) + 1)[None, :]).astype(int)
                inside = grid * self.step <= times[:, None]
                pairs = []
                for key, _, values in self.select(args[0].vector_selector):
                    present = inside & (grid >= 0) & (grid < len(values))
                    v = np.where(present, values[np.clip(grid, 0, len(values) - 1)], math.nan)
                    pairs.append((_without_name(key), _reduce_min_max(v, present, op)))
                return _named_apart(pairs)
            if isinstance(args[0], pp.SubqueryExpr):
                return self._subquery(args[0], times, window, op)
        raise Unsupported(f"function {name}() is not modelled")

    def _subquery(self, sub: object, times: np.ndarray, window: float, op: str) -> Vector:
        if sub.offset is not None or sub.at is not None or sub.step is None:
            raise Unsupported("a subquery needs an explicit step and no offset")
        return self.over_time(sub.expr, times, window, self._range(sub, window), sub.step.total_seconds(), op)

    def over_time(self, expr: object, times: np.ndarray, window: float, span: float, step: float, op: str) -> Vector:
        """``<op>_over_time((expr)[span:step])``: ``expr`` at the multiples of ``step`` in [t - span, t]."""
        first = np.ceil((times - span) / step)
        sub_times = (first[:, None] + np.arange(int(span // step) + 1)[None, :]) * step
        inside = sub_times <= times[:, None]
        inner = self.evaluate(expr, sub_times.ravel(), window)
        if not isinstance(inner, dict):
            raise Unsupported("a subquery of a number is not modelled")
        shape = sub_times.shape
        return {_without_name(k): _reduce_min_max(v.reshape(shape), p.reshape(shape) & inside, op)
                for k, (v, p) in inner.items()}

    # aggregation and operators

    def _aggregate(self, agg: object, times: np.ndarray, window: float) -> Vector:
        op = str(agg.op)
        if op not in ("sum", "min", "max", "avg", "count") or agg.param is not None:
            raise Unsupported(f"aggregation {op} is not modelled")
        inner = self.evaluate(agg.expr, times, window)
        if not isinstance(inner, dict):
            raise Unsupported("aggregating a number")
        modifier = agg.modifier
        labels = set(modifier.labels) if modifier is not None else set()
        by = modifier is None or modifier.type == pp.AggModifierType.By
        groups: dict[LabelKey, list[Sample]] = {}
        for key, sample in inner.items():
            if by:
                group = tuple(kv for kv in key if kv[0] in labels)
            else:
                group = tuple(kv for kv in key if kv[0] not in labels and kv[0] != "__name__")
            groups.setdefault(group, []).append(sample)
        return {group: _aggregate(op, members) for group, members in groups.items()}

    def _binary(self, expr: object, times: np.ndarray, window: float) -> Vector | np.ndarray:
        op = str(expr.op)
        modifier = expr.modifier
        returns_bool = bool(modifier is not None and modifier.return_bool)
        if op not in _ARITHMETIC and op not in COMPARE:
            raise Unsupported(f"operator {op} is not modelled")
        lhs = self.evaluate(expr.lhs, times, window)
        rhs = self.evaluate(expr.rhs, times, window)
        fn = _ARITHMETIC.get(op) or COMPARE[op]
        comparison = op in COMPARE
        if not isinstance(lhs, dict) and not isinstance(rhs, dict):
            if comparison and not returns_bool:
                raise Unsupported("a comparison of numbers needs bool")
            with np.errstate(all="ignore"):
                value = fn(lhs, rhs)
            return value.astype(float)
        if isinstance(lhs, dict) and isinstance(rhs, dict):
            return self._vector_vector(lhs, rhs, fn, comparison, returns_bool, modifier)
        vector, number, swapped = (lhs, rhs, False) if isinstance(lhs, dict) else (rhs, lhs, True)
        out: Vector = {}
        for key, (v, p) in vector.items():
            with np.errstate(all="ignore"):
                result = fn(number, v) if swapped else fn(v, number)
            out_key = key if comparison and not returns_bool else _without_name(key)
            out[out_key] = _binary_result(v, p, result, comparison, returns_bool)
        return out

    @staticmethod
    def _vector_vector(lhs: Vector, rhs: Vector, fn, comparison: bool, returns_bool: bool,  # noqa: ANN001
                       modifier) -> Vector:  # noqa: ANN001
        on, labels = False, set()
        if modifier is not None:
            if modifier.card != pp.VectorMatchCardinality.OneToOne:
                raise Unsupported("group_left/group_right are not modelled")
            if modifier.matching is not None:
                on = modifier.matching.type == pp.LabelModifierType.Include
                labels = set(modifier.matching.labels)

        def signature(key: LabelKey) -> LabelKey:
            if on:
                return tuple(kv for kv in key if kv[0] in labels)
            return tuple(kv for kv in key if kv[0] not in labels and kv[0] != "__name__")

        right: dict[LabelKey, Sample] = {}
        for key, sample in rhs.items():
            if signature(key) in right:
                raise Unsupported("many-to-many matching")
            right[signature(key)] = sample
        out: Vector = {}
        for key, (v, p) in lhs.items():
            match = right.get(signature(key))
            if match is None:
                continue
            rv, rp = match
            with np.errstate(all="ignore"):
                result = fn(v, rv)
            out_key = key if comparison and not returns_bool else _without_name(key)
            if on:
                out_key = tuple(kv for kv in out_key if kv[0] in labels)
            elif labels:
                out_key = tuple(kv for kv in out_key if kv[0] not in labels)
            if out_key in out:
                raise Unsupported("many-to-many matching")
            out[out_key] = _binary_result(v, p & rp, result, comparison, returns_bool)
        return out


def _named_apart(pairs: list[tuple[LabelKey, Sample]]) -> Vector:
    """A function's result without the metric names: series that differ only in their name make
    Prometheus fail the query ("vector cannot contain metrics with the same labelset")."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise Unsupported("series that differ only in their name meet in one function (Prometheus rejects that)")
    return out


def _binary_result(lhs_values: np.ndarray, present: np.ndarray, result: np.ndarray, comparison: bool,
                   returns_bool: bool) -> Sample:
    if not comparison:
        return _keep_first(result.astype(float), present), present
    if returns_bool:
        return np.where(present, result.astype(float), math.nan), present
    keep = present & result.astype(bool)
    return _keep_first(lhs_values, keep), keep


def _aggregate(op: str, members: list[Sample]) -> Sample:
    """One group of an aggregation, member by member in series order, as Prometheus does."""
    length = len(members[0][0])
    value = np.full(length, math.nan)
    count = np.zeros(length)
    for v, p in members:
        new = p & (count == 0)
        old = p & (count > 0)
        count = count + p
        if op == "sum":
            value = np.where(new, v, np.where(old, value + v, value))
        elif op == "avg":  # an incremental mean (Prometheus 2.x)
            with np.errstate(all="ignore"):
                mean = value + (v / np.maximum(count, 1) - value / np.maximum(count, 1))
            value = np.where(new, v, np.where(old, mean, value))
        elif op in ("min", "max"):
            better = (value > v) if op == "min" else (value < v)
            value = np.where(new, v, np.where(old & (better | np.isnan(value)), v, value))
    present = count > 0
    if op == "count":
        value = count.astype(float)
    return _keep_first(value, present), present
