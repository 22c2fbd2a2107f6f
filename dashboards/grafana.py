"""The layer between grafanalib 0.7.1 and a current Grafana dashboard.

grafanalib stays the builder; its last release writes a 2016-era dashboard (schemaVersion 12,
``rows``/``style``/``sharedCrosshair``, thresholds with ``"value": "null"``, stat thresholds as an
empty string, gauges with their options inside ``fieldConfig``, ``maxDataPoints: 100`` on every
panel, ``datasource: null`` on targets, integer-only axis limits). :func:`render` serialises a
grafanalib ``Dashboard`` and :func:`fix_dashboard` rewrites the JSON into what Grafana 10/11 saves
itself, which validates against Grafana's published dashboard schema.
"""

from __future__ import annotations

import json
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard

SCHEMA_VERSION = 39  # Grafana 10.4/11.x; the schema accepts any integer, Grafana migrates from here

DATASOURCE_VARIABLE = "datasource"
PROMETHEUS = {"type": "prometheus", "uid": "${datasource}"}
BASE_STEP = {"color": "green", "value": None}

# Keys Grafana's dashboard schema allows (additionalProperties: false), in the order Grafana writes them.
DASHBOARD_KEYS = (
    "annotations", "description", "editable", "fiscalYearStartMonth", "graphTooltip", "id", "links",
    "liveNow", "panels", "refresh", "schemaVersion", "tags", "templating", "time", "timepicker",
    "timezone", "title", "uid", "version", "weekStart",
)
PANEL_KEYS = (
    "datasource", "description", "fieldConfig", "gridPos", "id", "interval", "links", "maxPerRow",
    "options", "pluginVersion", "repeat", "repeatDirection", "targets", "timeFrom", "timeShift",
    "title", "transformations", "transparent", "type", "hideTimeOverride",
)
ROW_KEYS = ("collapsed", "datasource", "gridPos", "id", "panels", "repeat", "title", "type")
FIELD_CONFIG_KEYS = (
    "color", "custom", "decimals", "description", "displayName", "links", "mappings", "max", "min",
    "noValue", "thresholds", "unit",
)
VARIABLE_KEYS = (
    "allValue", "current", "datasource", "definition", "description", "hide", "includeAll", "label",
    "multi", "name", "options", "query", "refresh", "regex", "skipUrlSync", "sort", "type",
)
LINK_DEFAULTS = {
    "asDropdown": False, "icon": "external link", "includeVars": False, "keepTime": True, "tags": [],
    "targetBlank": True, "tooltip": "", "type": "link",
}
TARGET_KEYS = ("datasource", "editorMode", "expr", "format", "instant", "interval", "legendFormat", "range",
               "refId", "hide")


def render(dashboard: Dashboard) -> dict[str, Any]:
    """grafanalib's JSON, corrected (see the module docstring)."""
    raw = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    return fix_dashboard(raw)


def fix_dashboard(raw: dict[str, Any]) -> dict[str, Any]:
    """A current dashboard from grafanalib's output (pure: the input is not modified)."""
    board = {key: raw[key] for key in DASHBOARD_KEYS if raw.get(key) is not None}
    board["schemaVersion"] = SCHEMA_VERSION
    board["id"] = None  # the importing Grafana assigns it; uid is the identity
    board["description"] = raw.get("description") or ""
    board.setdefault("fiscalYearStartMonth", 0)
    board.setdefault("liveNow", False)
    board["timepicker"] = {
        key: value for key, value in (raw.get("timepicker") or {}).items()
        if key in ("refresh_intervals", "hidden") and value is not None
    }
    board["links"] = [fix_link(link) for link in raw.get("links") or []]
    board["annotations"] = {"list": list((raw.get("annotations") or {}).get("list") or [])}
    board["templating"] = {"list": [fix_variable(v) for v in (raw.get("templating") or {}).get("list") or []]}
    board["panels"] = [fix_panel(panel) for panel in raw.get("panels") or []]
    return board


def fix_link(link: dict[str, Any]) -> dict[str, Any]:
    """Dashboard and panel links with every field the schema requires (Grafana ignores the extras)."""
    fixed = {**LINK_DEFAULTS, **{k: v for k, v in link.items() if v is not None}}
    if "uri" in fixed:  # grafanalib's DataLink spelling
        fixed["url"] = fixed.pop("uri")
    fixed.setdefault("title", "")
    allowed = (*LINK_DEFAULTS, "title", "url")
    return {key: fixed[key] for key in allowed if key in fixed}


def fix_variable(raw: dict[str, Any]) -> dict[str, Any]:
    variable = {key: raw[key] for key in VARIABLE_KEYS if raw.get(key) is not None}
    if variable.get("type") == "query" or isinstance(raw.get("datasource"), str):
        variable["datasource"] = dict(PROMETHEUS)
    if variable.get("type") == "datasource":
        variable.pop("datasource", None)
    current = raw.get("current") or {}
    if current.get("text") is None or current.get("value") is None:
        variable.pop("current", None)  # Grafana picks the first option (or All) on load
    elif current["value"] == "$__all":  # grafanalib's default="$__all": Grafana's spelling of "All"
        multi = bool(variable.get("multi"))
        variable["current"] = {"selected": True, "text": ["All"] if multi else "All",
                               "value": ["$__all"] if multi else "$__all"}
    else:
        variable["current"] = {k: current[k] for k in ("selected", "text", "value") if k in current}
    if variable.get("type") == "query":
        variable.setdefault("definition", variable.get("query", ""))
    return variable


def fix_thresholds(value: Any) -> dict[str, Any]:
    """Threshold steps as Grafana writes them: a base step with value null, then ascending numbers."""
    mode, steps = "absolute", value
    if isinstance(value, dict):
        mode, steps = value.get("mode") or "absolute", value.get("steps")
    fixed = []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict) or step == "":
            continue
        number = step.get("value")
        if number in ("null", "", None):
            number = None
        fixed.append({"color": step.get("color", "green"), "value": None if number is None else float(number)})
    if not fixed or fixed[0]["value"] is not None:
        fixed.insert(0, dict(BASE_STEP))
    for step in fixed[1:]:
        if step["value"] is None:
            raise ValueError("only the first threshold step may have a null value")
    return {"mode": mode, "steps": fixed}


def fix_field_defaults(defaults: dict[str, Any]) -> dict[str, Any]:
    fixed = {key: defaults[key] for key in FIELD_CONFIG_KEYS if defaults.get(key) is not None}
    fixed["thresholds"] = fix_thresholds(defaults.get("thresholds"))
    if isinstance(fixed.get("custom"), dict):
        fixed["custom"] = _drop_nulls(fixed["custom"])
        if fixed["custom"].get("stacking") == {}:
            fixed["custom"]["stacking"] = {"group": "A", "mode": "none"}
    if fixed.get("noValue") == "none":  # grafanalib's default would print the word "none"
        fixed.pop("noValue")
    return fixed


def fix_target(raw: dict[str, Any], index: int) -> dict[str, Any]:
    target = {key: raw[key] for key in TARGET_KEYS if raw.get(key) is not None}
    target["datasource"] = dict(PROMETHEUS)
    target["refId"] = raw.get("refId") or chr(ord("A") + index)
    target["editorMode"] = "code"
    target["range"] = not raw.get("instant", False)
    if target.get("interval") == "":
        target.pop("interval")
    if target.get("hide") is False:
        target.pop("hide")
    return target


def fix_panel(raw: dict[str, Any]) -> dict[str, Any]:
    if raw.get("type") == "row":
        row = {key: raw[key] for key in ROW_KEYS if raw.get(key) is not None}
        row["collapsed"] = bool(raw.get("collapsed", False))
        row["panels"] = [fix_panel(panel) for panel in raw.get("panels") or []]
        return row
    panel = {key: raw[key] for key in PANEL_KEYS if raw.get(key) is not None}
    panel["datasource"] = dict(PROMETHEUS)
    panel["targets"] = [fix_target(target, i) for i, target in enumerate(raw.get("targets") or [])]
    panel["links"] = [fix_link(link) for link in raw.get("links") or []]
    panel["description"] = raw.get("description") or ""
    field_config = raw.get("fieldConfig") or {}
    defaults = dict(field_config.get("defaults") or {})
    if panel["type"] == "gauge":
        panel["options"], defaults = _gauge_options(raw, defaults)
    panel["fieldConfig"] = {
        "defaults": fix_field_defaults(defaults),
        "overrides": list(field_config.get("overrides") or []),
    }
    options = panel.get("options")
    if isinstance(options, dict) and "reduceOptions" in options:
        options["reduceOptions"] = _reduce_options(options["reduceOptions"])
    if panel["type"] == "timeseries":
        panel["fieldConfig"]["defaults"].setdefault("custom", {})
    for key in ("repeat", "repeatDirection", "maxPerRow"):
        if panel.get(key) in ("", None):
            panel.pop(key, None)
    return panel


def _gauge_options(raw: dict[str, Any], defaults: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """grafanalib writes a gauge's calcs and threshold switches inside fieldConfig; Grafana reads options."""
    field_config = raw.get("fieldConfig") or {}
    options = {
        "orientation": "auto",
        "reduceOptions": {"calcs": defaults.get("calcs") or ["lastNotNull"], "fields": "", "values": False},
        "showThresholdLabels": bool(field_config.get("showThresholdLabels", False)),
        "showThresholdMarkers": bool(field_config.get("showThresholdMarkers", True)),
    }
    options.update({k: v for k, v in (raw.get("options") or {}).items() if k != "reduceOptions"})
    return options, defaults


def _reduce_options(reduce: dict[str, Any]) -> dict[str, Any]:
    calcs = [("lastNotNull" if calc == "last" else calc) for calc in reduce.get("calcs") or ["lastNotNull"]]
    return {"calcs": calcs, "fields": reduce.get("fields") or "", "values": bool(reduce.get("values", False))}


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value
