"""Time compression for the live demo, done openly on copies of the example's files.

A 30-day SLO's page tier (14.4x over 1h and 5m) cannot fire and resolve in a few minutes. The demo
therefore divides every time the alerting path depends on by one factor: SLO windows (the engine
scales its burn-rate tiers with the window, see ``slo.burnrate.default_tiers``), explicit tiers,
the canary's window and warm-up, and Alertmanager's group timers. Everything else stays as the
example says (objectives, SLIs, thresholds, routes, inhibition, mute intervals). The files
generated for ``examples/`` keep their real windows; only the demo's copy is compressed.
"""

from __future__ import annotations

import copy
from typing import Any

from triton_slo.durations import format_duration, parse_duration

DEFAULT_FACTOR = 30  # 30d -> 1d: the page tier becomes 14.4x over 2m and 10s
MIN_SLO_WINDOW_S = 3600  # the spec validator's minimum window
CALENDAR_MONTH_S = 30 * 86400
AM_TIMERS = ("group_wait", "group_interval", "repeat_interval")


def scaled(text: str | int | float, factor: float, minimum: float = 1) -> str:
    """A duration divided by ``factor``, rounded to whole seconds, never under ``minimum``."""
    seconds = parse_duration(str(text)) if isinstance(text, str) else float(text)
    return format_duration(max(minimum, round(seconds / factor)))


def _slo_window(text: str, factor: float) -> str:
    """A compressed SLO window; a calendar month counts as 30 days (it has no fixed length)."""
    seconds = CALENDAR_MONTH_S if text.strip().lower() in ("month", "calendar-month") else parse_duration(text)
    return scaled(seconds, factor, MIN_SLO_WINDOW_S)


def compress_spec(doc: dict[str, Any], factor: float, runbook_base_url: str | None = None
                  ) -> tuple[dict[str, Any], list[str]]:
    """A copy of a triton-slo spec (as loaded YAML) with its alerting times divided by ``factor``.

    Returns the copy and one line per change, for the narration and the summary.
    """
    out = copy.deepcopy(doc)
    changes: list[str] = []
    for slo in out.get("slos") or []:
        name = slo.get("name", "?")
        old = str(slo.get("window", "30d"))
        slo["window"] = _slo_window(old, factor)
        changes.append(f"SLO {name}: window {old} -> {slo['window']}")
        for tier in (slo.get("alerting") or {}).get("tiers") or []:
            for key in ("long", "short"):
                if key in tier:
                    tier[key] = scaled(tier[key], factor)
            changes.append(f"SLO {name}: tier {tier.get('name')}: windows {tier.get('long')}/{tier.get('short')}")
    canary = out.get("canary")
    if isinstance(canary, dict):
        for key, default in (("window", "30m"), ("warmup", "5m")):
            old = str(canary.get(key, default))
            canary[key] = scaled(old, factor, 0 if key == "warmup" else 1)
            changes.append(f"canary {key}: {old} -> {canary[key]}")
    if runbook_base_url is not None:
        service = out.setdefault("service", {})
        service["runbook_base_url"] = runbook_base_url
        changes.append(f"service.runbook_base_url -> {runbook_base_url} (the runbooks generated for the demo)")
    return out, changes


def rewrite_alertmanager(config: dict[str, Any], webhook_base_url: str, factor: float
                         ) -> tuple[dict[str, Any], list[str]]:
    """A copy of a generated alertmanager.yaml whose receivers all post to ``webhook_base_url/<receiver>``
    and whose group timers are divided by ``factor``; routes, inhibition and mute intervals stay.
    """
    out = copy.deepcopy(config)
    notes = []
    receivers = []
    for receiver in out.get("receivers") or []:
        name = receiver["name"]
        kinds = sorted(k.removesuffix("_configs") for k in receiver if k.endswith("_configs"))
        receivers.append({"name": name, "webhook_configs": [{"url": f"{webhook_base_url.rstrip('/')}/{name}",
                                                             "send_resolved": True}]})
        notes.append(f"receiver {name} ({', '.join(kinds) or 'none'}) -> the demo's webhook")
    out["receivers"] = receivers

    def walk(route: dict[str, Any]) -> None:
        for key in AM_TIMERS:
            if key in route:
                route[key] = scaled(route[key], factor)
        for child in route.get("routes") or []:
            walk(child)

    if "route" in out:
        walk(out["route"])
        notes.append(f"group_wait/group_interval/repeat_interval of every route divided by {factor:g}")
    return out, notes
