"""The one writer of each output format: block YAML and indented JSON.

Every YAML file `generate` writes (rules, rule tests, alertmanager.yaml, Kubernetes objects,
Grafana provisioning) goes through ``yaml_text``; every JSON file (dashboards) through
``json_text``. Both are fast: a 1000-SLO spec is megabytes of each.
"""

from __future__ import annotations

import json
import math
import re
from json.encoder import encode_basestring_ascii as _ESCAPE  # the C escaper
from typing import Any

from triton_slo.artifacts import Flow


def flow_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/ -]*")
_NOT_PLAIN = re.compile(r"(?i)^(true|false|yes|no|on|off|null|y|n)$|[ :]$| #|: ")


def _scalar(value: object) -> str:
    """A YAML scalar: plain where unambiguous, else JSON-quoted (JSON strings are YAML strings)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and not _NOT_PLAIN.search(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _literal(text: str) -> bool:
    """Whether a multi-line string reads back the same from a literal block: no tab, no leading blank
    (it would need an indentation indicator), no carriage return, and at most one final line break."""
    return "\t" not in text and "\r" not in text and not text.startswith(" ") and not text.endswith("\n\n")


def yaml_text(document: dict) -> str:
    """YAML text of a rule or test document (fast: thousands of SLOs are written in well under a second).

    Block style for dicts and lists, a list item's first entry on its dash line, multi-line strings
    as literal blocks, other scalars as ``_scalar`` writes them (each distinct string worked out once).
    """
    out: list[str] = []
    emit = out.append
    known: dict[str, str] = {}

    def scalar(value: object) -> str:
        if type(value) is not str:
            return _scalar(value)
        text = known.get(value)
        if text is None:
            text = known[value] = _scalar(value)
        return text

    def block(value: dict | list, indent: str, lead: str) -> None:
        # ``lead`` starts the first line: ``indent``, or the dash of the list item holding ``value``
        is_dict = isinstance(value, dict)
        deeper = indent + "  "
        for key, item in value.items() if is_dict else enumerate(value):
            head = (lead + scalar(key) + ":") if is_dict else (lead + "-")
            lead = indent
            if isinstance(item, (dict, list)):
                if not item:
                    emit(f"{head} {'{}' if isinstance(item, dict) else '[]'}\n")
                elif is_dict:
                    emit(head + "\n")
                    block(item, deeper, deeper)
                else:
                    block(item, deeper, head + " ")
            elif isinstance(item, str) and "\n" in item and _literal(item):
                # a literal block: "|-" strips the final line break, "|" keeps exactly one
                kept = item.endswith("\n")
                lines = (item[:-1] if kept else item).split("\n")
                body = "".join(f"{deeper}{line}\n" if line else "\n" for line in lines)
                emit(f"{head} {'|' if kept else '|-'}\n{body}")
            elif type(item) is Flow:
                emit(f"{head} {flow_text(item.value)}\n")
            else:
                emit(f"{head} {scalar(item)}\n")

    block(document, "", "")
    return "".join(out)


def json_text(data: Any) -> str:
    """``json.dumps(data, indent=2)``, byte for byte, at about twice its speed.

    The standard library indents in pure Python; here strings go through its C escaper and the
    rest is plain appends (dashboards of a large spec are megabytes). Anything but JSON's own types
    and string keys is left to ``json.dumps``.
    """
    out: list[str] = []
    emit = out.append
    text = _ESCAPE

    def walk(value: Any, indent: str) -> None:
        kind = type(value)
        if kind is str:
            emit(text(value))
        elif kind is dict:
            if not value:
                emit("{}")
                return
            inner = indent + "  "
            head = "{\n" + inner
            for key, item in value.items():
                if type(key) is not str:
                    raise TypeError(key)
                emit(head + text(key) + ": ")
                head = ",\n" + inner
                walk(item, inner)
            emit("\n" + indent + "}")
        elif kind is list:
            if not value:
                emit("[]")
                return
            inner = indent + "  "
            head = "[\n" + inner
            for item in value:
                emit(head)
                head = ",\n" + inner
                walk(item, inner)
            emit("\n" + indent + "]")
        elif value is None:
            emit("null")
        elif value is True:
            emit("true")
        elif value is False:
            emit("false")
        elif kind is int:
            emit(int.__repr__(value))
        elif kind is float and math.isfinite(value):
            emit(float.__repr__(value))
        else:
            raise TypeError(value)

    try:
        walk(data, "")
    except TypeError:
        return json.dumps(data, indent=2)
    return "".join(out)


