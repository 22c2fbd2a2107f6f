"""Write the exporter's own families and the passthrough in both exposition formats.

Our families are rendered with plain string joins: prometheus_client's registry rendering costs
about 90 ms for 500 probe histograms, more than a whole scrape may. Values use prometheus_client's
own float formatting, so the text is what its exposition would write.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

from triton_slo.exporters.textparse import LABEL_PAIR, SAMPLE_LINE, Family, canonical_line, escape_label_value

PLAIN_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@lru_cache(maxsize=1 << 16)
def label_text(pairs: tuple[tuple[str, str], ...]) -> str:
    """``{a="x",b="y"}`` (escaped), or "" for no labels. Cached: the same label sets come back at
    every scrape, and escaping 10k of them each time would be a good part of a scrape's cost."""
    body = ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs)
    return f"{{{body}}}" if body else ""


def format_value(value: float) -> str:
    """Like prometheus_client's floatToGoString for the values we write, at a fraction of its cost."""
    if value.__class__ is int:
        return f"{value}.0"
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class OwnFamily:
    """A family of ours. ``name`` is the OpenMetrics family name (a counter's without ``_total``).

    Sample lines are the same in both formats (a counter's samples end in ``_total`` in both), so
    they are written once, as they are added; only the HELP/TYPE lines differ.
    """

    __slots__ = ("name", "type", "help", "lines")

    def __init__(self, name: str, type: str, help: str) -> None:  # noqa: A002 - the format's words
        self.name = name
        self.type = type
        self.help = help
        self.lines: list[str] = []

    def add(self, labels: str, value: float, suffix: str = "") -> None:
        self.lines.append(f"{self.name}{suffix}{labels} {format_value(value)}\n")


def counter_family(series: str) -> str:
    """The OpenMetrics family name of a counter, from the series name queries read (``..._total``)."""
    return series.removesuffix("_total")


def _escape_help(text: str, openmetrics: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if openmetrics else text


def render_own(families: Iterable[OwnFamily], openmetrics: bool) -> str:
    out: list[str] = []
    for family in families:
        text_name = family.name + "_total" if family.type == "counter" and not openmetrics else family.name
        out.append(f"# HELP {text_name} {_escape_help(family.help, openmetrics)}\n")
        out.append(f"# TYPE {text_name} {family.type}\n")
        out.append("".join(family.lines))
    return "".join(out)


def drop_labels(family: Family, drop: frozenset[str]) -> list[str]:
    """The family's lines without the dropped labels; kept pairs keep their name and escaped value
    byte for byte, written ``name="value"`` with no blanks (what OpenMetrics allows too). A series
    that becomes a duplicate of an earlier one is left out (an exposition may not repeat a series)."""
    seen: set[str] = set()
    lines: list[str] = []
    for line in family.lines:
        match = SAMPLE_LINE.fullmatch(line)
        if match is None:
            continue
        name, block, value, ts = match.groups()
        if block:
            kept = [f'{m.group(1)}="{m.group(2)}"' for m in LABEL_PAIR.finditer(block) if m.group(1) not in drop]
            block = "{" + ",".join(kept) + "}" if kept else ""
        series = f"{name}{block or ''}"
        if series in seen:
            continue
        seen.add(series)
        lines.append(f"{series} {value}" + (f" {ts}" if ts is not None else ""))
    return lines


def render_passthrough(family: Family, openmetrics: bool, drop: frozenset[str] = frozenset()) -> str:
    """An upstream family as it came (HELP, TYPE, sample lines), or made valid OpenMetrics.

    OpenMetrics wants a counter's samples to end in ``_total``; Triton's do not, and renaming them
    would break every query written against Triton. Such a family is declared ``unknown`` in
    OpenMetrics, its sample names kept byte for byte; millisecond timestamps become seconds; a
    line with blanks the OpenMetrics grammar does not allow (dcgm-exporter 2.0 writes
    ``{gpu="0", UUID="..."}``) is written without them.
    """
    lines = drop_labels(family, drop) if drop else None
    head: list[str] = []
    name, kind = family.name, family.type
    if openmetrics:
        if kind == "counter":
            if name.endswith("_total"):
                name = name[: -len("_total")]
            else:
                kind = "unknown"
        elif kind == "untyped":
            kind = "unknown"
        if family.help is not None:
            head.append(f"# HELP {name} {_escape_help(family.help, True)}\n")
        head.append(f"# TYPE {name} {kind}\n")
        if family.spaced and lines is None:
            lines = [canonical_line(line) for line in family.lines]
        if family.has_timestamps:
            lines = [_seconds_timestamp(line) for line in (lines if lines is not None else family.lines)]
    else:
        head = family.header
    body = "".join(family.chunks) if lines is None else "".join(line + "\n" for line in lines)
    return "".join(head) + body


def merge_split_families(families: list[tuple[Family, frozenset[str]]]) -> list[tuple[Family, frozenset[str]]]:
    """One family per name, in order of first appearance. OpenMetrics forbids a family split in two
    parts (dcgm-exporter's MIG output does that: whole-GPU lines, then the MIG instances' lines)."""
    merged: dict[str, tuple[Family, frozenset[str]]] = {}
    for family, drop in families:
        first = merged.get(family.name)
        if first is None:
            merged[family.name] = (family, drop)
            continue
        if first[0].type != family.type and family.type != "untyped":
            merged[family.name + "\0" + str(len(merged))] = (family, drop)  # leave a real clash to the reader
            continue
        combined = Family(first[0].name, first[0].type, first[0].help, [*first[0].chunks, *family.chunks],
                          first[0].count + family.count, list(first[0].header),
                          first[0].has_timestamps or family.has_timestamps, first[0].spaced or family.spaced)
        merged[family.name] = (combined, drop)
    return list(merged.values())


def _seconds_timestamp(line: str) -> str:
    match = SAMPLE_LINE.fullmatch(line)
    if match is None or match.group(4) is None:
        return line
    return f"{line[: match.start(4)]}{int(match.group(4)) / 1000:.3f}"
