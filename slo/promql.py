"""PromQL text, written one way everywhere: string literals, label matchers and selectors, regexes
that match literal values, exact numbers, and Sloth's ``{{.window}}`` placeholder.

Every generated rule, test series, dashboard query and canary delta builds its selectors here, so
a label value is quoted the same way in each (``quote``). Core: imports only ``triton_slo.model``
and ``triton_slo.durations``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal

from triton_slo.durations import format_duration
from triton_slo.model import ModelRef

Matcher = tuple[str, str, str]  # (label, op, value): op is =, !=, =~ or !~
MatcherSets = tuple[tuple[Matcher, ...], ...]  # alternatives: a series matching any set

WINDOW_PLACEHOLDER = re.compile(r"\{\{\s*\.window\s*\}\}")  # Sloth's window in a user's query


# --- literals and selectors -------------------------------------------------------------------


def quote(value: str) -> str:
    """A PromQL string literal (backslash, double quote and newline escaped)."""
    if "\\" not in value and '"' not in value and "\n" not in value:  # the common case, kept cheap
        return '"' + value + '"'
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def matcher(label: str, op: str, value: str) -> str:
    """``label op "value"``: one label matcher."""
    return f"{label}{op}{quote(value)}"


def equalities(labels: Mapping[str, str]) -> list[Matcher]:
    """An equality matcher per label, in the mapping's order."""
    return [(k, "=", v) for k, v in labels.items()]


def label_matchers(matchers: Iterable[Matcher], separator: str = ", ") -> str:
    """The inside of ``{...}``: each matcher, ``separator`` between them."""
    return separator.join(f"{label}{op}{quote(value)}" for label, op, value in matchers)


def selector(matchers: Iterable[Matcher], separator: str = ", ") -> str:
    """``name{a="b", c=~"d"}``: a ``__name__`` equality matcher becomes the metric name in front;
    without other matchers the name alone (``{}`` when there is nothing at all)."""
    name, parts = "", []
    for label, op, value in matchers:
        if label == "__name__" and op == "=":
            name = value
        else:
            parts.append(f"{label}{op}{quote(value)}")
    return f"{name}{{{separator.join(parts)}}}" if parts else name or "{}"


def matches(labels: Mapping[str, str], matchers: Iterable[Matcher]) -> bool:
    """Whether a series (labels with ``__name__``) is selected by the matchers."""
    for label, op, value in matchers:
        have = labels.get(label, "")
        if op == "=" and have != value or op == "!=" and have == value:
            return False
        if op in ("=~", "!~") and (re.fullmatch(value, have) is None) == (op == "=~"):
            return False
    return True


def model_matcher_sets(models: tuple[ModelRef, ...]) -> list[list[Matcher]]:
    """Matchers selecting these models (and versions); several sets when versions differ; one empty
    set (every model) when none are named."""
    if not models:
        return [[]]
    sets: list[list[Matcher]] = []
    any_version = [m.name for m in models if not m.versions]
    if any_version:
        op = "=" if len(any_version) == 1 else "=~"
        sets.append([("model", op, any_version[0] if op == "=" else alternation(any_version))])
    for model in models:
        if model.versions:
            op = "=" if len(model.versions) == 1 else "=~"
            value = model.versions[0] if op == "=" else alternation(model.versions)
            sets.append([("model", "=", model.name), ("version", op, value)])
    return sets


# --- regexes and numbers ----------------------------------------------------------------------


def alternation(values: Iterable[str]) -> str:
    """An RE2 alternation matching exactly these literal values."""
    return "|".join(re.escape(v) for v in values)


def number(value: Decimal | float | int) -> str:
    """An exact plain decimal for PromQL and labels: ``0.0144``, ``14.4``, ``6`` (never ``1E+1``,
    never ``0.1000000000000000055`` for a float written ``0.1``)."""
    if not isinstance(value, Decimal):
        value = Decimal(repr(float(value)))
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def number_regex(value: Decimal) -> str:
    """A label-value regex for a number however a client printed it: ``0.05``, ``0.050``, ``100.0``."""
    text = re.escape(number(value))
    return text + "0*" if "." in text else text + r"(\.0*)?"


# --- windows ----------------------------------------------------------------------------------


def with_window(query: str, seconds: int) -> str:
    """A Sloth-style query with ``{{.window}}`` replaced by the range."""
    return WINDOW_PLACEHOLDER.sub(format_duration(seconds), query.strip())
