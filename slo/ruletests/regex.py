"""Example strings for the regexes in users' matchers (``code=~"5.."``, ``__name__=~"nv_.*_(success|failure)"``).

The tests write series whose labels a selector's regex matchers select, so they need a value each
regex matches in full. Patterns are parsed here, for a subset: literals and escaped characters,
``.``, character classes (ranges, ``\\d \\w \\s`` and their negations), groups (capturing,
``(?:...)`` and ``(?P<name>...)``), alternation, the greedy and lazy quantifiers ``* + ? {m}
{m,} {m,n}``, and ``^``/``$``. Anything else (lookarounds, backreferences, flags, possessive
quantifiers, word boundaries) is refused: the pattern gets no example, and the SLO no test.

An example takes, for every piece of the pattern, the first thing it allows: the first character
of a class, ``0`` for ``.``, a quantified piece at its minimum count (once when that is zero),
each alternative of an alternation (up to ``limit``), except that an alternation of single
characters (after the prefix its alternatives share) is one class: one example, its first.
Every example is checked with ``re.fullmatch``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass


class Refused(ValueError):
    """A pattern outside the subset (the reason is the message)."""


@dataclass(frozen=True)
class Char:
    text: str


@dataclass(frozen=True)
class AnyChar:
    pass


@dataclass(frozen=True)
class CharClass:
    # ("char", c), ("range", low, high) or ("category", letter), in the order written
    items: tuple[tuple[str, ...], ...]
    negated: bool


@dataclass(frozen=True)
class Anchor:
    text: str  # ^ or $


@dataclass(eq=False)  # two groups are never the same piece, even when written alike
class Group:
    alternatives: tuple[tuple[Node, ...], ...]


@dataclass(eq=False)
class Repeat:
    node: Node
    low: int
    high: int | None  # None: no upper bound


Node = Char | AnyChar | CharClass | Anchor | Group | Repeat

_POSIX = re.compile(r"\[:\^?[a-z]+:\]")
CATEGORIES = {"d": "0", "w": "a", "s": " ", "D": "a", "W": "-", "S": "a"}  # an example of each
CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
# {m}, {m,}, {m,n}, {,n} and {,}, as Python's re reads them ("{}" and any other brace are literal)
_REPEAT = re.compile(r"\{(\d*)(,(\d*))?\}")


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.text, self.at = pattern, 0

    def peek(self) -> str | None:
        return self.text[self.at] if self.at < len(self.text) else None

    def take(self) -> str:
        char = self.text[self.at]
        self.at += 1
        return char

    def alternation(self) -> Group:
        alternatives = [self.sequence()]
        while self.peek() == "|":
            self.take()
            alternatives.append(self.sequence())
        return Group(tuple(alternatives))

    def sequence(self) -> tuple[Node, ...]:
        nodes: list[Node] = []
        while self.peek() not in (None, "|", ")"):
            node = self.atom()
            quantified = self.quantifier(node)
            if quantified is not node and isinstance(node, Anchor):
                raise Refused("a quantified anchor")
            nodes.append(quantified)
        return tuple(nodes)

    def quantifier(self, node: Node) -> Node:
        char = self.peek()
        if char in ("*", "+", "?"):
            self.take()
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{" and (bounds := self.braces()):
            self.at = bounds.end()
            low = int(bounds.group(1) or 0)
            high = low if bounds.group(2) is None else int(bounds.group(3)) if bounds.group(3) else None
        else:
            return node
        if self.peek() == "?":  # lazy: the same examples
            self.take()
        if self.peek() in ("*", "+", "?") or self.peek() == "{" and self.braces():
            raise Refused("a quantifier on a quantifier (possessive or repeated)")
        return Repeat(node, low, high)

    def braces(self) -> re.Match | None:
        bounds = _REPEAT.match(self.text, self.at)
        return bounds if bounds and bounds.group(0) != "{}" else None

    def atom(self) -> Node:
        char = self.take()
        if char == "(":
            return self.group()
        if char == "[":
            return self.char_class()
        if char == ".":
            return AnyChar()
        if char in "^$":
            return Anchor(char)
        if char == "\\":
            return self.escape(in_class=False)
        if char in "*+?":
            raise Refused("a quantifier with nothing to repeat")
        return Char(char)

    def group(self) -> Group:
        if self.peek() == "?":
            if self.text.startswith("?:", self.at):
                self.at += 2
            elif self.text.startswith("?P<", self.at) and (end := self.text.find(">", self.at)) > 0:
                self.at = end + 1
            else:
                raise Refused(f"the group (?{self.text[self.at + 1:self.at + 2]}...)")
        inner = self.alternation()
        if self.peek() != ")":
            raise Refused("an unclosed group")
        self.take()
        return inner

    def escape(self, in_class: bool) -> Node:
        if self.peek() is None:
            raise Refused("a trailing backslash")
        char = self.take()
        if char in CATEGORIES:
            return CharClass((("category", char),), False)
        if char in CONTROL:
            return Char(CONTROL[char])
        if char == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", self.text[self.at:self.at + 2]):
            self.at += 2
            return Char(chr(int(self.text[self.at - 2:self.at], 16)))
        if char.isalnum() or char == "_":
            raise Refused(f"the escape \\{char}")
        return Char(char)

    def char_class(self) -> CharClass | Char:
        negated = self.peek() == "^"
        if negated:
            self.take()
        items: list[tuple[str, ...]] = []
        first = True
        while True:
            char = self.peek()
            if char is None:
                raise Refused("an unclosed character class")
            if char == "]" and not first:
                self.take()
                break
            first = False
            if char == "[" and _POSIX.match(self.text, self.at):  # RE2 reads [[:alpha:]], Python does not
                raise Refused("a POSIX class inside a character class")
            low = self.class_char()
            if isinstance(low, CharClass):
                items.extend(low.items)
                continue
            if self.peek() == "-" and self.text[self.at + 1:self.at + 2] not in ("]", ""):
                self.take()
                high = self.class_char()
                if isinstance(high, CharClass):
                    raise Refused("a range ending in a character category")
                items.append(("range", low, high))
            else:
                items.append(("char", low))
        unique = tuple(dict.fromkeys(items))
        if len(unique) == 1 and unique[0][0] == "char" and not negated:
            return Char(unique[0][1])  # [a] is a
        return CharClass(unique, negated)

    def class_char(self) -> str | CharClass:
        char = self.take()
        if char != "\\":
            return char
        escaped = self.escape(in_class=True)
        return escaped.text if isinstance(escaped, Char) else escaped


def parse(pattern: str) -> Group:
    """The pattern as nodes; raises ``Refused`` outside the subset."""
    parser = _Parser(pattern)
    tree = parser.alternation()
    if parser.peek() is not None:
        raise Refused("an unopened group")
    return tree


def _class_example(node: CharClass) -> str | None:
    if node.negated or not node.items:
        return None
    kind, *rest = node.items[0]
    return CATEGORIES[rest[0]] if kind == "category" else rest[0]


def _single_char(nodes: tuple[Node, ...]) -> bool:
    return len(nodes) == 1 and (isinstance(nodes[0], Char) or isinstance(nodes[0], CharClass) and not nodes[0].negated)


def _alternation_examples(group: Group, limit: int) -> list[str] | None:
    alternatives = group.alternatives
    if len(alternatives) == 1:
        return sequence_examples(alternatives[0], limit)
    shared = 0  # pieces every alternative starts with
    first = alternatives[0]
    while all(len(a) > shared and a[shared] == first[shared] for a in alternatives):
        shared += 1
    if all(_single_char(a[shared:]) for a in alternatives):  # one character class: its first character
        return sequence_examples(alternatives[0], limit)
    out: list[str] = []
    for alternative in alternatives:  # an alternative without examples (a negated class) is skipped
        out += sequence_examples(alternative, limit) or []
    return out[:limit] or None


def node_examples(node: Node, limit: int) -> list[str] | None:
    """Examples of one piece (None: it has none we can tell)."""
    if isinstance(node, Char):
        return [node.text]
    if isinstance(node, AnyChar):
        return ["0"]
    if isinstance(node, Anchor):
        return [""]
    if isinstance(node, CharClass):
        example = _class_example(node)
        return None if example is None else [example]
    if isinstance(node, Group):
        return _alternation_examples(node, limit)
    part = node_examples(node.node, limit)
    count = max(node.low, 1) if node.high is None or node.high >= 1 else 0
    return None if part is None else [p * count for p in part]


def sequence_examples(nodes: tuple[Node, ...], limit: int) -> list[str] | None:
    out = [""]
    for node in nodes:
        parts = node_examples(node, limit)
        if parts is None:
            return None
        out = [a + b for a in out for b in parts][:limit]
    return out


def regex_examples(pattern: str, limit: int = 3) -> list[str]:
    """Up to ``limit`` values the (simple) regex matches in full, one per alternative first."""
    try:
        with warnings.catch_warnings():  # "possible nested set" ([[): refused below, or read as Python does
            warnings.simplefilter("ignore", FutureWarning)
            re.compile(pattern)
        tree = parse(pattern)
    except (re.error, Refused):
        return []
    return [text for text in dict.fromkeys(node_examples(tree, limit) or []) if re.fullmatch(pattern, text)][:limit]


def regex_example(pattern: str) -> str | None:
    """A value the (simple) regex matches in full, or None."""
    examples = regex_examples(pattern, 1)
    return examples[0] if examples else None
