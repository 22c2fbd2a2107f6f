"""Field converters shared by the readers: each takes a ``Raw`` value and returns the checked one,
or raises ValueError with the reason (``Reader.value`` reports it at the key's position).

Generic ones (``as_str``, ``as_duration``, ``as_label_map``, ``one_of``, ``in_range``...) and the
SLO fields every format has: ``as_objective`` (a percentage), ``as_promql`` (PromQL that parses,
with a ``{{.window}}`` range where asked), ``check_promql`` and ``str_map`` (annotations).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import promql_parser
from triton_slo.durations import parse_duration, parse_latency
from triton_slo.readers.source import Raw, Reader, type_name

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
SLUG = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
WINDOW_PLACEHOLDER = re.compile(r"\{\{\s*\.window\s*\}\}")


def as_str(raw: Raw) -> str:
    if not isinstance(raw.value, str):
        raise ValueError(f"must be a string, not {type_name(raw.value)}")
    return raw.value


def as_nonempty_str(raw: Raw) -> str:
    text = as_str(raw)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def as_slug(raw: Raw) -> str:
    text = as_str(raw)
    if not SLUG.match(text):
        raise ValueError(f"{text!r} must be lower-case letters, digits, '-' or '_' (at most 63)")
    return text


def as_label_name(raw: Raw) -> str:
    text = as_str(raw)
    if not LABEL_NAME.match(text):
        raise ValueError(f"{text!r} is not a Prometheus label name")
    return text


def as_metric_name(raw: Raw) -> str:
    text = as_str(raw)
    if not METRIC_NAME.match(text):
        raise ValueError(f"{text!r} is not a Prometheus metric name")
    return text


def as_bool(raw: Raw) -> bool:
    if not isinstance(raw.value, bool):
        raise ValueError(f"must be true or false, not {type_name(raw.value)}")
    return raw.value


def as_number(raw: Raw) -> float:
    if isinstance(raw.value, bool) or not isinstance(raw.value, (int, float)):
        raise ValueError(f"must be a number, not {type_name(raw.value)}")
    if raw.value != raw.value or raw.value in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number")
    return float(raw.value)


def as_int(raw: Raw) -> int:
    if isinstance(raw.value, bool) or not isinstance(raw.value, int):
        raise ValueError(f"must be a whole number, not {type_name(raw.value)}")
    return raw.value


def as_duration(raw: Raw) -> int:
    text = as_str(raw) if not isinstance(raw.value, int) or isinstance(raw.value, bool) else None
    if text is None:
        raise ValueError(f"must be a duration like 5m or 30d, not the number {raw.value}")
    seconds = parse_duration(text)
    if seconds < 1 or seconds != int(seconds):
        raise ValueError(f"{text!r} must be a whole number of seconds, at least 1s")
    return int(seconds)


def as_latency(raw: Raw) -> float:
    seconds = parse_latency(raw.value)
    if not seconds > 0:
        raise ValueError("must be greater than zero")
    return seconds


def as_label_map(raw: Raw) -> dict[str, str]:
    if raw.value is None:
        return {}
    if not isinstance(raw.value, dict):
        raise ValueError(f"must be a mapping of label names to strings, not {type_name(raw.value)}")
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


def one_of(*choices: str) -> Callable[[Raw], str]:
    def convert(raw: Raw) -> str:
        text = as_str(raw)
        if text not in choices:
            close = difflib.get_close_matches(text, choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}{hint}")
        return text

    return convert


def in_range(convert: Callable[[Raw], Any], low: float, high: float, *, open_low: bool = True,
             open_high: bool = True) -> Callable[[Raw], Any]:
    def check(raw: Raw) -> Any:
        value = convert(raw)
        too_low = value <= low if open_low else value < low
        too_high = value >= high if open_high else value > high
        if too_low or too_high:
            left, right = ("(" if open_low else "["), (")" if open_high else "]")
            raise ValueError(f"{value:g} is outside {left}{low:g}, {high:g}{right}")
        return value

    return check


def as_objective(raw: Raw) -> Decimal:
    """A percentage strictly between 0 and 100 (``99.9`` or ``"99.9%"``), kept exact as written."""
    value = raw.value
    text = raw.text if raw.text is not None else str(value)
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a percentage like 99.9, not {type(value).__name__}")
    try:
        objective = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a percentage like 99.9") from None
    if not objective.is_finite() or not Decimal(0) < objective < Decimal(100):
        raise ValueError(f"{text} must be strictly between 0 and 100 (a percentage)")
    return objective


def check_promql(expr: str) -> str | None:
    """None if ``expr`` (with ``{{.window}}`` filled) parses as PromQL, else the parser's reason."""
    filled = WINDOW_PLACEHOLDER.sub("5m", expr)
    try:
        promql_parser.parse(filled)
    except (ValueError, TypeError) as exc:
        return str(exc).splitlines()[0] if str(exc) else "does not parse"
    except BaseException as exc:  # noqa: BLE001 - a Rust panic surfaces as PanicException
        return f"does not parse ({type(exc).__name__})"
    return None


def as_promql(windowed: bool) -> Callable[[Raw], str]:
    """A converter for PromQL that parses; ``windowed`` ones need a ``{{.window}}`` range."""

    def convert(raw: Raw) -> str:
        expr = as_nonempty_str(raw)
        reason = check_promql(expr)
        if reason:
            raise ValueError(f"PromQL does not parse: {reason}")
        if windowed and not WINDOW_PLACEHOLDER.search(expr):
            raise ValueError("needs a {{.window}} range (e.g. rate(x[{{.window}}])) so each alert window "
                             "can be computed")
        return expr

    return convert


def str_map(r: Reader, key: str) -> dict[str, str]:
    """``key`` of ``r`` as a mapping of names to strings (annotations); {} when missing, null or wrong."""

    def convert(raw: Raw) -> dict[str, str]:
        if raw.value is None:
            return {}
        if not isinstance(raw.value, dict) or not all(isinstance(v, str) for v in raw.value.values()):
            raise ValueError("must be a mapping of names to strings")
        return dict(raw.value)

    return r.value(key, convert, default={}) or {}
