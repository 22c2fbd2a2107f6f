"""Prometheus duration strings (``5m``, ``1h30m``, ``30d``) to seconds and back."""

from __future__ import annotations

import re

from triton_slo.errors import UserError

UNIT_SECONDS: dict[str, int] = {"ms": 0, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_WHOLE = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration; raises ValueError with the reason."""
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h30m, 28d")
    seconds = 0.0
    for number, unit in _PART.findall(text):
        seconds += int(number) / 1000 if unit == "ms" else int(number) * UNIT_SECONDS[unit]
    return seconds


def flag_duration(text: str, flag: str, *, positive: bool = True) -> float:
    """Seconds of a duration given on the command line; a bad one is one line naming the flag."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UserError(f"{flag}: {exc}") from None
    if positive and seconds <= 0:
        raise UserError(f"{flag} {text!r}: must be longer than 0s")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for a whole number of seconds (``90`` -> ``1m30s``)."""
    if seconds <= 0:
        return "0s"
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    rest = int(seconds)
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = UNIT_SECONDS[unit]
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def parse_latency(text: str | int | float) -> float:
    """A latency threshold in seconds: ``50ms``, ``0.5s``, ``250us``; bare numbers are milliseconds."""
    if isinstance(text, bool):
        raise ValueError("a latency must be a number of milliseconds or a string like 50ms")
    if isinstance(text, (int, float)):
        return float(text) / 1000.0
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s)\s*", str(text))
    if not match:
        raise ValueError(f"{text!r} is not a latency like 50ms, 250us or 1.5s")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}[unit]
