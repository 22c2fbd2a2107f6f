"""YAML with positions: every problem in a spec is reported as ``FILE:LINE:COL: message``.

PyYAML's safe composer keeps the line and column of every node; this module turns the node tree
into plain dicts and lists that remember where each key and item stood, and offers a small
reader that checks keys, types and ranges while collecting every error rather than the first.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from triton_slo.durations import parse_duration, parse_latency


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    col: int  # 1-based


@dataclass(frozen=True)
class SpecProblem:
    file: str
    mark: Mark
    message: str

    def __str__(self) -> str:
        message = " ".join(self.message.splitlines())  # one line per problem, whatever a key or value held
        return f"{self.file}:{self.mark.line}:{self.mark.col}: {message}"


class SpecError(Exception):
    """One or more problems in a spec file; ``str()`` is one ``FILE:LINE:COL: message`` per line."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.mark.line, p.mark.col))
        super().__init__("\n".join(str(p) for p in self.problems))


class PosDict(dict):
    """A mapping that remembers where it and each of its keys stood, and each scalar's raw text."""

    mark: Mark
    key_marks: dict[str, Mark]
    raw: dict[str, str]


class PosList(list):
    mark: Mark
    item_marks: list[Mark]
    raw: list[str | None]


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


# libyaml's composer when PyYAML has it (4x faster on large specs); the nodes and marks are the same
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.SafeLoader(stream="")


def _scalar(node: yaml.ScalarNode) -> Any:
    return _constructor.construct_object(node, deep=True)


def _checked_scalar(node: yaml.ScalarNode, file: str, problems: list[SpecProblem]) -> Any:
    """A scalar's value; one YAML resolves but cannot build (2024-13-01, a 5000-digit int) is a problem here."""
    try:
        return _scalar(node)
    except (ValueError, OverflowError, yaml.YAMLError) as exc:
        text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
        reason = str(getattr(exc, "problem", None) or exc).split(";")[0]
        problems.append(SpecProblem(file, _mark(node), f"YAML value {text!r}: {reason}"))
        return None


def to_python(node: yaml.Node, file: str, problems: list[SpecProblem]) -> Any:
    """Node tree -> PosDict/PosList/scalars, reporting duplicate and non-string keys."""
    if isinstance(node, yaml.MappingNode):
        result = PosDict()
        result.mark, result.key_marks, result.raw = _mark(node), {}, {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(SpecProblem(file, _mark(key_node), "YAML merge keys (<<) are not supported"))
                continue
            key = _checked_scalar(key_node, file, problems) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                problems.append(SpecProblem(file, _mark(key_node), "keys must be strings"))
                continue
            if key in result:
                problems.append(SpecProblem(file, _mark(key_node), f"duplicate key {key!r}"))
                continue
            result[key] = to_python(value_node, file, problems)
            result.key_marks[key] = _mark(key_node)
            if isinstance(value_node, yaml.ScalarNode):
                result.raw[key] = value_node.value
        return result
    if isinstance(node, yaml.SequenceNode):
        items = PosList()
        items.mark, items.item_marks, items.raw = _mark(node), [], []
        for child in node.value:
            items.append(to_python(child, file, problems))
            items.item_marks.append(_mark(child))
            items.raw.append(child.value if isinstance(child, yaml.ScalarNode) else None)
        return items
    return _checked_scalar(node, file, problems)


MAX_EXPANDED_VALUES = 100_000  # far above any real spec; aliases must not expand past it ("billion laughs")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_expansion(root: yaml.Node, file: str) -> None:
    """Aliases share nodes: count the values the document expands to, and refuse cycles, before building it."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # the path from the root to the node being counted
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[id(node)] > MAX_EXPANDED_VALUES:
                raise SpecError([SpecProblem(file, _mark(node), f"more than {MAX_EXPANDED_VALUES} values once YAML "
                                             "aliases (*name) are expanded")])
            continue
        if id(node) in sizes:
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise SpecError([SpecProblem(file, _mark(child), "a YAML alias refers to a mapping or list that "
                                             "contains it")])
            stack.append((child, False))


def load_documents(text: str, file: str) -> list[Any]:
    """All YAML documents of a file with positions; syntax errors become a SpecError."""
    problems: list[SpecProblem] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(mark.line + 1, mark.column + 1) if mark else Mark(1, 1)
        raise SpecError([SpecProblem(file, where, f"YAML syntax: {exc.problem or exc.context}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow; it knows only the offset
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - text.rfind("\n", 0, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        raise SpecError([SpecProblem(file, Mark(line, col), f"YAML: character U+{code:04X} is not allowed "
                                     f"({exc.reason})")]) from None
    except RecursionError:
        raise SpecError([SpecProblem(file, Mark(1, 1), "YAML: nested too deeply")]) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise SpecError([SpecProblem(file, Mark(1, 1), f"YAML: {exc}")]) from None
    for node in nodes:
        if node is not None:
            check_expansion(node, file)
    try:
        docs = [to_python(node, file, problems) for node in nodes if node is not None]
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Mark(mark.line + 1, mark.column + 1) if mark else Mark(1, 1)
        problems.append(SpecProblem(file, where, f"YAML value: {getattr(exc, 'problem', None) or exc}"))
        docs = []
    if problems:
        raise SpecError(problems)
    return docs


LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
SLUG = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
_MISSING = object()


class Reader:
    """Reads one mapping of a spec, recording each problem with the position of its key."""

    def __init__(self, file: str, problems: list[SpecProblem], node: Any, where: str, mark: Mark) -> None:
        self.file, self.problems, self.where = file, problems, where
        self.mark = mark  # the line of the key (or list item) that holds this mapping
        self.ok = isinstance(node, dict)
        if not self.ok:
            self.error(self.mark, f"{where or 'the document'} must be a mapping, not {_type_name(node)}")
        self.node: dict = node if self.ok else {}
        self.seen: set[str] = set()

    def path(self, key: str) -> str:
        shown = key if key and key.isprintable() and key.strip() == key else repr(key)  # '\r', ' ', ''
        return f"{self.where}.{shown}" if self.where else shown

    def error(self, mark: Mark, message: str) -> None:
        self.problems.append(SpecProblem(self.file, mark, message))

    def key_mark(self, key: str) -> Mark:
        return getattr(self.node, "key_marks", {}).get(key, self.mark)

    def has(self, key: str) -> bool:
        return key in self.node

    def raw(self, key: str) -> Any:
        """The value as YAML gave it (marks the key as known)."""
        self.seen.add(key)
        return self.node.get(key, _MISSING)

    def value(self, key: str, convert: Callable[[Any], Any], default: Any = _MISSING, what: str = "") -> Any:
        """A checked value: ``convert`` raises ValueError with the reason; missing keys take the default
        or are reported as required."""
        self.seen.add(key)
        if key not in self.node:
            if default is _MISSING:
                self.error(self.mark, f"{self.path(key)}: required{f' ({what})' if what else ''}")
                return None
            return default
        raw_value = self.node[key]
        raw_text = getattr(self.node, "raw", {}).get(key)
        try:
            return convert(_Raw(raw_value, raw_text))
        except ValueError as exc:
            self.error(self.key_mark(key), f"{self.path(key)}: {exc}")
            return None

    def child(self, key: str, required: bool = False) -> Reader | None:
        self.seen.add(key)
        if key not in self.node:
            if required:
                self.error(self.mark, f"{self.path(key)}: required")
            return None
        if self.node[key] is None:
            return Reader(self.file, self.problems, _empty_posdict(self.key_mark(key)), self.path(key),
                          self.key_mark(key))
        return Reader(self.file, self.problems, self.node[key], self.path(key), self.key_mark(key))

    def items(self, key: str) -> list[tuple[Any, str, Mark]]:
        """(item, path, mark) of a list; a missing or null key is an empty list."""
        self.seen.add(key)
        value = self.node.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(self.key_mark(key), f"{self.path(key)}: must be a list, not {_type_name(value)}")
            return []
        marks = getattr(value, "item_marks", [self.key_mark(key)] * len(value))
        return [(item, f"{self.path(key)}[{i}]", marks[i]) for i, item in enumerate(value)]

    def finish(self, allowed: set[str] | None = None) -> None:
        """Report keys nobody read (unknown or misspelt), with a suggestion."""
        known = self.seen | (allowed or set())
        for key in self.node:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(known))})"
            self.error(self.key_mark(key), f"{self.path(key)}: unknown key {key!r}{hint}")


def _empty_posdict(mark: Mark) -> PosDict:
    empty = PosDict()
    empty.mark, empty.key_marks, empty.raw = mark, {}, {}
    return empty


@dataclass(frozen=True)
class _Raw:
    value: Any
    text: str | None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    # bool before int (a subclass); PosDict and PosList are dict and list to the user.
    for kind, name in ((bool, "a boolean"), (dict, "a mapping"), (list, "a list"), (str, "a string"),
                       (int, "a number"), (float, "a number")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


# Converters: each takes the raw value and returns the checked one or raises ValueError.

def as_str(raw: _Raw) -> str:
    if not isinstance(raw.value, str):
        raise ValueError(f"must be a string, not {_type_name(raw.value)}")
    return raw.value


def as_nonempty_str(raw: _Raw) -> str:
    text = as_str(raw)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def as_slug(raw: _Raw) -> str:
    text = as_str(raw)
    if not SLUG.match(text):
        raise ValueError(f"{text!r} must be lower-case letters, digits, '-' or '_' (at most 63)")
    return text


def as_label_name(raw: _Raw) -> str:
    text = as_str(raw)
    if not LABEL_NAME.match(text):
        raise ValueError(f"{text!r} is not a Prometheus label name")
    return text


def as_metric_name(raw: _Raw) -> str:
    text = as_str(raw)
    if not METRIC_NAME.match(text):
        raise ValueError(f"{text!r} is not a Prometheus metric name")
    return text


def as_bool(raw: _Raw) -> bool:
    if not isinstance(raw.value, bool):
        raise ValueError(f"must be true or false, not {_type_name(raw.value)}")
    return raw.value


def as_number(raw: _Raw) -> float:
    if isinstance(raw.value, bool) or not isinstance(raw.value, (int, float)):
        raise ValueError(f"must be a number, not {_type_name(raw.value)}")
    if raw.value != raw.value or raw.value in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number")
    return float(raw.value)


def as_int(raw: _Raw) -> int:
    if isinstance(raw.value, bool) or not isinstance(raw.value, int):
        raise ValueError(f"must be a whole number, not {_type_name(raw.value)}")
    return raw.value


def as_duration(raw: _Raw) -> int:
    text = as_str(raw) if not isinstance(raw.value, int) or isinstance(raw.value, bool) else None
    if text is None:
        raise ValueError(f"must be a duration like 5m or 30d, not the number {raw.value}")
    seconds = parse_duration(text)
    if seconds < 1 or seconds != int(seconds):
        raise ValueError(f"{text!r} must be a whole number of seconds, at least 1s")
    return int(seconds)


def as_latency(raw: _Raw) -> float:
    seconds = parse_latency(raw.value)
    if not seconds > 0:
        raise ValueError("must be greater than zero")
    return seconds


def as_label_map(raw: _Raw) -> dict[str, str]:
    if raw.value is None:
        return {}
    if not isinstance(raw.value, dict):
        raise ValueError(f"must be a mapping of label names to strings, not {_type_name(raw.value)}")
    result = {}
    for key, value in raw.value.items():
        if not LABEL_NAME.match(key):
            raise ValueError(f"{key!r} is not a Prometheus label name")
        if key.startswith("__"):
            raise ValueError(f"{key!r}: label names starting with __ are reserved")
        if not isinstance(value, str):
            raise ValueError(f"{key}: label values must be strings (quote it: \"{value}\")")
        result[key] = value
    return result


def one_of(*choices: str) -> Callable[[_Raw], str]:
    def convert(raw: _Raw) -> str:
        text = as_str(raw)
        if text not in choices:
            close = difflib.get_close_matches(text, choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}{hint}")
        return text

    return convert


def in_range(convert: Callable[[_Raw], Any], low: float, high: float, *, open_low: bool = True,
             open_high: bool = True) -> Callable[[_Raw], Any]:
    def check(raw: _Raw) -> Any:
        value = convert(raw)
        too_low = value <= low if open_low else value < low
        too_high = value >= high if open_high else value > high
        if too_low or too_high:
            left, right = ("(" if open_low else "["), (")" if open_high else "]")
            raise ValueError(f"{value:g} is outside {left}{low:g}, {high:g}{right}")
        return value

    return check
