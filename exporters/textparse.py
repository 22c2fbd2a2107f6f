"""A fast, lenient reader of the Prometheus text format (0.0.4), pure functions only.

Two levels, so a scrape pays only for what it uses:

- ``scan(text)`` splits the text into families, validates every sample line with one compiled
  regex and keeps the valid lines as they came (passthrough forwards them byte for byte); a bad
  line is skipped and counted, never fatal.
- ``Family.samples()`` parses labels and values, only for the families that are decoded.

``parse(text)`` does both for every family. Its samples equal what ``prometheus_client.parser``
reads from the same text (the tests use it as the oracle), except that names stay as upstream
wrote them: prometheus_client renames a counter's samples to ``<name>_total``.
Metric and label names are the classic ``[a-zA-Z_:][a-zA-Z0-9_:]*`` form (Triton and
dcgm-exporter write nothing else); a quoted UTF-8 name is a bad line.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

# Every quantifier that can meet blanks, names or label values is possessive (``*+``, ``++``) or
# inside an atomic group: none of them can give back what it took, so a failing match costs one
# pass over the line whatever the line holds (a 30 kB run of blanks, braces or backslashes took
# seconds to tens of seconds with plain greedy/lazy quantifiers, two adjacent blank runs each
# trying every split). Each possessive is safe: what follows it never starts with what it takes.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*+"
_LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*+"
_LABEL_VALUE = r'"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"'  # unrolled: far faster than (?:[^"\\]|\\.)*
_B = r"[ \t]*+"  # optional blanks, never given back
_LABEL = rf"{_B}{_LABEL_NAME}{_B}={_B}{_LABEL_VALUE}{_B}"
_LABELS = rf"\{{(?:{_LABEL}(?:,{_LABEL})*+,?{_B})?\}}"
# The fast path's label block: no optional blanks, as every exporter writes it; anything else
# falls back to the lenient line pattern, so both accept the same lines.
_STRICT_LABELS = rf"\{{(?:{_LABEL_NAME}={_LABEL_VALUE}(?:,{_LABEL_NAME}={_LABEL_VALUE})*+,?)?\}}"
_VALUE = (
    r"(?>[+-]?(?:(?:[0-9]++(?:\.[0-9]*+)?|\.[0-9]++)(?:[eE][+-]?[0-9]++)?"
    r"|[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?|[Nn][Aa][Nn]))"
)

# name, label block (with braces), value, timestamp (ms); always used with fullmatch
SAMPLE_LINE = re.compile(rf"({NAME})(?:{_B}({_LABELS}))?[ \t]++({_VALUE})(?:[ \t]++(-?[0-9]++))?{_B}")
# the same lines written as OpenMetrics allows: single spaces, no blanks inside the label block
_STRICT_LINE = re.compile(rf"{NAME}(?:{_STRICT_LABELS})? {_VALUE}(?: -?[0-9]++)?")
LABEL_PAIR = re.compile(rf"({_LABEL_NAME}){_B}={_B}\"([^\"\\\n]*+(?:\\.[^\"\\\n]*+)*+)\"")
_META_LINE = re.compile(rf"#[ \t]++(HELP|TYPE)[ \t]++({NAME})(?:[ \t]++(.*+))?")  # rest: trailing blanks stripped
_ESCAPE = re.compile(r"\\(.)")
_HELP_ESCAPE = re.compile(r"\\([\\n])")

TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("",),
    "gauge": ("",),
    "untyped": ("",),
    "summary": ("", "_sum", "_count"),
    "histogram": ("_bucket", "_sum", "_count"),
}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float
    timestamp: float | None = None  # seconds, as prometheus_client gives it


@dataclass
class Family:
    """One metric family: its metadata and its valid sample lines exactly as upstream sent them."""

    name: str
    type: str = "untyped"
    help: str | None = None  # unescaped HELP text; None when upstream sent no HELP line
    chunks: list[str] = field(default_factory=list)  # runs of valid sample lines, each ending in \n
    count: int = 0  # sample lines
    header: list[str] = field(default_factory=list)  # its valid HELP and TYPE lines as they came
    has_timestamps: bool = False
    spaced: bool = False  # a sample line has blanks OpenMetrics does not allow (`{a="1", b="2"}`)

    @property
    def lines(self) -> list[str]:
        return "".join(self.chunks).split("\n")[:-1]

    def samples(self) -> list[Sample]:
        return [parse_sample_line(line) for line in self.lines]


@dataclass
class Scan:
    families: list[Family]
    bad_lines: int = 0  # lines skipped: malformed samples, bad HELP/TYPE lines
    first_bad: str = ""  # the first of them (cut to 200 chars), for a log line

    @property
    def samples(self) -> int:
        return sum(family.count for family in self.families)


def unescape_label_value(text: str) -> str:
    """Text-format label escapes: ``\\\\``, ``\\"``, ``\\n``; any other backslash stays as it is."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: {"\\": "\\", '"': '"', "n": "\n"}.get(m.group(1), m.group(0)), text)


def escape_label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def unescape_help(text: str) -> str:
    if "\\" not in text:
        return text
    return _HELP_ESCAPE.sub(lambda m: "\\" if m.group(1) == "\\" else "\n", text)


def parse_labels(block: str | None) -> dict[str, str]:
    """``{a="1",b="x\\"y"}`` -> dict; the block was already validated by SAMPLE_LINE."""
    if not block or len(block) <= 2:
        return {}
    return {name: unescape_label_value(value) for name, value in LABEL_PAIR.findall(block)}


def canonical_line(line: str) -> str:
    """A valid sample line as OpenMetrics allows it: single spaces between name, label block, value
    and timestamp, no blanks inside the label block, only the escapes OpenMetrics knows."""
    match = SAMPLE_LINE.fullmatch(line)
    if match is None:
        raise ValueError(f"not a sample line: {line[:200]!r}")
    name, block, value, ts = match.groups()
    out = [name]
    if block and len(block) > 2:
        pairs = []
        for label, raw in LABEL_PAIR.findall(block):
            if "\\" in raw:
                raw = escape_label_value(unescape_label_value(raw))
            pairs.append(f'{label}="{raw}"')
        if pairs:
            out.append("{" + ",".join(pairs) + "}")
    out.append(" " + value)
    if ts is not None:
        out.append(" " + ts)
    return "".join(out)


def parse_sample_line(line: str) -> Sample:
    """One validated sample line -> Sample (raises ValueError if it is not a sample line)."""
    match = SAMPLE_LINE.fullmatch(line)
    if match is None:
        raise ValueError(f"not a sample line: {line[:200]!r}")
    name, block, value, ts = match.groups()
    return Sample(name, parse_labels(block), float(value), int(ts) / 1000 if ts is not None else None)


_RUNS: dict[tuple[str, ...], re.Pattern[str]] = {}


def _run_of(names: tuple[str, ...]) -> re.Pattern[str]:
    """A pattern for a run of valid sample lines (no timestamps) whose names are all in ``names``.

    Matching a whole run in one regex call keeps the per-line work in C: this is what makes a scan
    many times cheaper than a line-by-line parse. Patterns are cached: families repeat every scrape.
    """
    pattern = _RUNS.get(names)
    if pattern is None:
        if len(_RUNS) > 4096:
            _RUNS.clear()
        alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
        pattern = re.compile(rf"(?:(?:{alternatives})(?:{_STRICT_LABELS})? {_VALUE}\n)++")
        _RUNS[names] = pattern
    return pattern


def scan(text: str, deadline: float | None = None) -> Scan:
    """Families of ``text`` with their valid sample lines; bad lines are counted and skipped.

    Grouping follows the text format: a HELP or TYPE line opens a family; a sample belongs to the
    open family when its name is one the family's type allows (``x``, ``x_sum``, ``x_bucket``...),
    otherwise it opens an untyped family of its own name. Past ``deadline`` (time.monotonic())
    it raises TimeoutError: the per-upstream deadline covers parsing too.
    """
    if text and not text.endswith("\n"):
        text += "\n"
    families: list[Family] = []
    bad = 0
    first_bad = ""
    current: Family | None = None
    allowed: tuple[str, ...] = ()
    run = None
    pos = 0
    end = len(text)
    ticks = 0
    while pos < end:
        ticks += 1
        if deadline is not None and not ticks & 255 and time.monotonic() > deadline:
            raise TimeoutError(f"parsing past the deadline ({pos} of {end} characters read)")
        if run is not None:
            match = run.match(text, pos)
            if match is not None:
                chunk = match.group(0)
                current.chunks.append(chunk)
                current.count += chunk.count("\n")
                pos = match.end()
                continue
        newline = text.index("\n", pos)
        line = text[pos:newline]
        pos = newline + 1
        if not line or line.isspace():
            continue
        if line[0] == "#":
            meta = _META_LINE.fullmatch(line)
            if meta is None:
                if line.startswith(("# HELP", "# TYPE")):
                    bad += 1
                    first_bad = first_bad or line[:200]
                continue  # an ordinary comment
            kind, name, rest = meta.groups()
            if rest:
                rest = rest.rstrip(" \t")
            if current is None or current.name != name:
                current = Family(name)
                families.append(current)
                allowed = (name,)
            if kind == "HELP":
                current.help = unescape_help(rest or "")
                current.header.append(line + "\n")
            elif rest in _SUFFIXES:
                current.type = rest
                current.header.append(line + "\n")
                allowed = tuple(name + suffix for suffix in _SUFFIXES[rest])
            else:
                bad += 1
                first_bad = first_bad or line[:200]
            run = _run_of(allowed)
            continue
        match = SAMPLE_LINE.fullmatch(line)
        if match is None:
            bad += 1
            first_bad = first_bad or line[:200]
            continue
        if match.group(1) not in allowed:
            current = Family(match.group(1))
            families.append(current)
            allowed = (current.name,)
            run = _run_of(allowed)
        current.chunks.append(line + "\n")
        current.count += 1
        if match.group(4) is not None:
            current.has_timestamps = True
        if not current.spaced and _STRICT_LINE.fullmatch(line) is None:
            current.spaced = True
    return Scan(families, bad, first_bad)


def parse(text: str) -> tuple[list[tuple[Family, list[Sample]]], int]:
    """Every family with its parsed samples, and the number of bad lines skipped."""
    result = scan(text)
    return [(family, family.samples()) for family in result.families], result.bad_lines


def format_value(value: float) -> str:
    """A float as the text format writes it (``+Inf``, ``NaN``, ``0.5``, ``12``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render_sample(name: str, labels: dict[str, str], value: float) -> str:
    if labels:
        body = ",".join(f'{key}="{escape_label_value(val)}"' for key, val in labels.items())
        return f"{name}{{{body}}} {format_value(value)}"
    return f"{name} {format_value(value)}"
