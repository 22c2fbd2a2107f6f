"""The selectors of a user's PromQL (ratio and timeslice SLIs), and labels of series they select.

Each selector of the user's queries is a ``Leaf``: the metric it reads, its matchers, and whether
it reads a counter (under ``rate``/``increase``) or a gauge. The series a test writes for it get
the labels its matchers ask for (a regex gets a value it matches), and each free ``by`` label of
the query a value per variant, so that one group burns while the other stays healthy.
"""

from __future__ import annotations

from dataclasses import dataclass

import promql_parser
from triton_slo.promql import matches, quote, with_window
from triton_slo.ruletests.evaluator import WINDOW_SENTINEL, Unsupported, selector_matchers
from triton_slo.ruletests.regex import regex_example


@dataclass(frozen=True)
class Leaf:
    """A selector in a user's query: the series it reads are counters (under rate/increase) or gauges."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]  # with ("__name__", "=", name)
    counter: bool


def parse_query(query: str) -> object:
    """A user's query parsed, ``{{.window}}`` standing for ``WINDOW_SENTINEL``."""
    try:
        return promql_parser.parse(with_window(query, WINDOW_SENTINEL))
    except (ValueError, RuntimeError) as exc:
        raise Unsupported(f"the query does not parse ({exc})") from None


def selector_leaf(selector: object, counter: bool) -> Leaf:
    """The leaf of a parsed selector; a name regex gets an example name to write."""
    matchers = selector_matchers(selector)
    if selector.name:
        return Leaf(selector.name, (("__name__", "=", selector.name), *matchers), counter)
    # {__name__=~"..."}: the series written get a name the matchers accept; the name matcher goes first
    named = [m for m in matchers if m[0] == "__name__"]
    rest = tuple(m for m in matchers if m[0] != "__name__")
    if len(named) != 1 or named[0][1] not in ("=", "=~"):
        raise Unsupported("a selector without one positive __name__ matcher")
    name = named[0][2] if named[0][1] == "=" else regex_example(named[0][2])
    if not name:
        raise Unsupported(f"no metric name found for __name__=~{quote(named[0][2])}")
    return Leaf(name, (named[0], *rest), counter)


def query_leaves(expr: object) -> tuple[list[Leaf], list[str]]:
    """The selectors of a query and the labels its aggregations group by."""
    leaves: list[Leaf] = []
    by: list[str] = []

    def visit(node: object) -> None:
        pp = promql_parser
        if isinstance(node, pp.VectorSelector):
            leaves.append(selector_leaf(node, counter=False))
        elif isinstance(node, pp.MatrixSelector):
            leaves.append(selector_leaf(node.vector_selector, counter=False))
        elif isinstance(node, pp.Call):
            args = list(node.args)
            if node.func.name in ("rate", "increase") and args and isinstance(args[0], pp.MatrixSelector):
                leaves.append(selector_leaf(args[0].vector_selector, counter=True))
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


def selects(leaf: Leaf, labels: dict[str, str]) -> bool:
    """Whether the leaf's selector selects a series of these labels (with ``__name__``)."""
    return matches(labels, leaf.matchers)


def series_labels(leaf: Leaf, group_by: list[str], variant: int) -> dict[str, str]:
    """Labels of a series the leaf selects: what its matchers ask for, and ``variant`` (a number)
    on each free label of ``group_by``."""
    labels = {"__name__": leaf.name}
    for label, op, value in leaf.matchers[1:]:
        if op == "=":
            labels[label] = value
        elif op == "=~":
            example = regex_example(value)
            if example is None:
                raise Unsupported(f"no value found for {label}=~{quote(value)}")
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
    if not selects(leaf, labels):
        raise Unsupported(f"no series found that {leaf.name}'s selector selects")
    return labels


def series_outside(labels: dict[str, str], inside: Leaf, keep: Leaf) -> dict[str, str] | None:
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
            if not selects(inside, trial) and selects(keep, trial):
                return trial
    return None


def single_counter(leaves: list[Leaf], what: str) -> Leaf:
    """The one leaf of a query that must read one counter (``what``: which of the SLI's queries)."""
    if len(leaves) != 1 or not leaves[0].counter:
        raise Unsupported(f"its {what} query is not one counter under rate() or increase()")
    return leaves[0]
