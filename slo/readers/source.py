"""YAML with positions: every problem in a spec is reported as ``FILE:LINE:COL: message``.

PyYAML's safe composer keeps the line and column of every node; this module turns the node tree
into plain dicts and lists that remember where each key and item stood (``PosDict``, ``PosList``),
and offers a small ``Reader`` that checks keys, types and ranges while collecting every error
rather than the first. The converters it applies to values are in ``triton_slo.readers.fields``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml


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


_MISSING = object()


class Reader:
    """Reads one mapping of a spec, recording each problem with the position of its key."""

    def __init__(self, file: str, problems: list[SpecProblem], node: Any, where: str, mark: Mark) -> None:
        self.file, self.problems, self.where = file, problems, where
        self.mark = mark  # the line of the key (or list item) that holds this mapping
        self.ok = isinstance(node, dict)
        if not self.ok:
            self.error(self.mark, f"{where or 'the document'} must be a mapping, not {type_name(node)}")
        self.node: PosDict = node if self.ok else _empty_posdict(mark)
        self.seen: set[str] = set()

    def path(self, key: str) -> str:
        shown = key if key and key.isprintable() and key.strip() == key else repr(key)  # '\r', ' ', ''
        return f"{self.where}.{shown}" if self.where else shown

    def error(self, mark: Mark, message: str) -> None:
        self.problems.append(SpecProblem(self.file, mark, message))

    def key_mark(self, key: str) -> Mark:
        return self.node.key_marks.get(key, self.mark)

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
        raw_text = self.node.raw.get(key)
        try:
            return convert(Raw(raw_value, raw_text))
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
            self.error(self.key_mark(key), f"{self.path(key)}: must be a list, not {type_name(value)}")
            return []
        return [(item, f"{self.path(key)}[{i}]", value.item_marks[i]) for i, item in enumerate(value)]

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
class Raw:
    """What a converter is given: the value YAML built and, for a scalar, its text as written."""

    value: Any
    text: str | None


def type_name(value: Any) -> str:
    """How a value's type is named in messages ("a mapping", "a number", "null")."""
    if value is None:
        return "null"
    # bool before int (a subclass); PosDict and PosList are dict and list to the user.
    for kind, name in ((bool, "a boolean"), (dict, "a mapping"), (list, "a list"), (str, "a string"),
                       (int, "a number"), (float, "a number")):
        if isinstance(value, kind):
            return name
    return type(value).__name__
