"""A dashboard linter: Grafana's dashboard-linter rules that apply here, plus what an import needs.

Rules (names after grafana/dashboard-linter where one exists):

* ``template-datasource-rule``: a ``datasource`` variable of type datasource for Prometheus.
* ``panel-datasource-rule`` / ``target-datasource``: panels and targets use ``${datasource}``.
* ``target-promql-rule``: every query parses (template variables replaced by placeholders).
* ``target-rate-interval-rule``: ``rate``/``irate``/``increase`` ranges are ``$__rate_interval``.
* ``target-job-rule`` / ``target-instance-rule``: every raw series is selected with a job and an
  instance template variable (recording rules, ``ALERTS`` and ``vector()`` are exempt).
* ``panel-units-rule``, ``panel-title-description-rule``.
* ``template-on-time-change-reload-rule``: query variables refresh on time-range change.
* import: ``schemaVersion``, a ``uid`` of 8-40 URL-safe characters, a title, unique integer panel
  ids, a ``gridPos`` inside the 24-column grid for every panel, and no two panels overlapping.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import promql_parser
from triton_slo.dashboards.queries import variables_in

RATE_SENTINEL_SECONDS = 7777  # `$__rate_interval` while parsing; no real range has this length
RATE_FUNCTIONS = {"rate", "irate", "increase"}
EXEMPT_SERIES = {"ALERTS", "ALERTS_FOR_STATE"}
UID = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
MIN_SCHEMA_VERSION = 36  # Grafana 9.3+: datasource references as {type, uid}


@dataclass(frozen=True)
class Problem:
    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.rule}: {self.message}"


def panels_of(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for panel in dashboard.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def queries_of(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every PromQL target of every panel."""
    for panel in panels_of(dashboard):
        for target in panel.get("targets") or []:
            if target.get("expr"):
                yield panel, target


def parse_template(expr: str) -> Any:
    """Parse a templated query: variables become placeholders that keep the syntax valid."""
    text = expr.replace("${__rate_interval}", "$__rate_interval")
    text = text.replace("$__rate_interval", f"{RATE_SENTINEL_SECONDS}s")
    text = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", lambda m: f"__var_{m.group(1) or m.group(2)}__", text)
    return promql_parser.parse(text)


def check_query(expr: str, where: str) -> list[Problem]:
    try:
        ast = parse_template(expr)
    except Exception as exc:  # noqa: BLE001 - the parser raises a plain Exception with the position
        return [Problem("target-promql-rule", where, f"does not parse: {exc} ({expr})")]
    problems: list[Problem] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.Call) and node.func.name in RATE_FUNCTIONS:
            arg = node.args[0]
            if isinstance(arg, promql_parser.MatrixSelector) and arg.range.total_seconds() != RATE_SENTINEL_SECONDS:
                problems.append(Problem("target-rate-interval-rule", where,
                                        f"{node.func.name}() over a fixed range instead of $__rate_interval"))
        if isinstance(node, promql_parser.VectorSelector):
            problems.extend(_check_selector(node, where))

    promql_parser.walk(ast, visit)
    return problems


def _check_selector(node: Any, where: str) -> list[Problem]:
    matchers = {m.name: m.value for m in node.matchers.matchers}
    name = node.name or matchers.get("__name__", "")
    if ":" in name or name in EXEMPT_SERIES:
        return []  # recording rules carry service/slo, not job/instance; ALERTS is Prometheus' own
    problems = []
    for label in ("job", "instance"):
        value = matchers.get(label, "")
        if not re.fullmatch(rf"__var_\w*{label}__", value):
            problems.append(Problem(f"target-{label}-rule", where,
                                    f"{name or 'selector'} is not selected by a ${label} variable"))
    return problems


def lint(dashboard: dict[str, Any]) -> list[Problem]:
    """Every problem found; an empty list is a clean dashboard."""
    title = dashboard.get("title") or "<untitled>"
    problems: list[Problem] = []
    add = problems.append
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < MIN_SCHEMA_VERSION:
        version = dashboard.get("schemaVersion")
        add(Problem("schema-version", title, f"schemaVersion {version!r} is older than {MIN_SCHEMA_VERSION}"))
    if not UID.match(str(dashboard.get("uid") or "")):
        add(Problem("uid", title, f"uid {dashboard.get('uid')!r} is not 8-40 URL-safe characters"))
    if not dashboard.get("title"):
        add(Problem("title", title, "the dashboard has no title"))
    variables = (dashboard.get("templating") or {}).get("list") or []
    names = {v.get("name") for v in variables}
    if not any(v.get("type") == "datasource" and v.get("query") == "prometheus" and v.get("name") == "datasource"
               for v in variables):
        add(Problem("template-datasource-rule", title, "no `datasource` variable of type datasource (prometheus)"))
    for variable in variables:
        where = f"{title} / variable ${variable.get('name')}"
        if variable.get("type") != "query":
            continue
        if variable.get("refresh") != 2:
            add(Problem("template-on-time-change-reload-rule", where, "does not refresh on time-range change"))
        query = variable.get("query") or ""
        inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
        if not inner:
            add(Problem("template-label-promql-rule", where, f"not a label_values() query: {query}"))
        else:  # a variable lists jobs and instances, so only its syntax is checked
            problems.extend(p for p in check_query(inner.group(1), where) if p.rule == "target-promql-rule")
        problems.extend(_check_datasource(variable.get("datasource"), where))
    for annotation in (dashboard.get("annotations") or {}).get("list") or []:
        if annotation.get("builtIn"):
            continue
        where = f"{title} / annotation {annotation.get('name')!r}"
        problems.extend(_check_datasource(annotation.get("datasource"), where))
        problems.extend(p for p in check_query(annotation.get("expr") or "", where)
                        if p.rule == "target-promql-rule")
    problems.extend(_check_panels(dashboard, title, names))
    return problems


def _check_datasource(datasource: Any, where: str) -> list[Problem]:
    uid = datasource.get("uid", "") if isinstance(datasource, dict) else ""
    if uid not in ("${datasource}", "$datasource"):
        message = f"datasource {datasource!r} is not the ${{datasource}} variable"
        return [Problem("panel-datasource-rule", where, message)]
    return []


def _check_panels(dashboard: dict[str, Any], title: str, variable_names: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    add = problems.append
    seen_ids: set[int] = set()
    boxes: list[tuple[int, str, tuple[int, int, int, int]]] = []
    builtins = {"__rate_interval", "__interval", "__range", "__all"}
    for panel in panels_of(dashboard):
        where = f"{title} / panel {panel.get('id')} {panel.get('title', '')!r}"
        pid = panel.get("id")
        if not isinstance(pid, int) or isinstance(pid, bool):
            add(Problem("panel-id", where, "no integer id"))
        elif pid in seen_ids:
            add(Problem("panel-id", where, f"id {pid} is used twice"))
        else:
            seen_ids.add(pid)
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")):
            add(Problem("panel-gridpos", where, f"gridPos {grid!r} lacks integer h, w, x, y"))
        elif grid["w"] <= 0 or grid["h"] <= 0 or grid["x"] < 0 or grid["y"] < 0 or grid["x"] + grid["w"] > 24:
            add(Problem("panel-gridpos", where, f"gridPos {grid!r} is outside the 24-column grid"))
        else:
            boxes.append((pid, where, (grid["x"], grid["y"], grid["w"], grid["h"])))
        if not panel.get("title"):
            add(Problem("panel-title-description-rule", where, "no title"))
        if panel.get("type") == "row":
            continue
        if not (panel.get("description") or "").strip():
            add(Problem("panel-title-description-rule", where, "no description"))
        unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if not unit:
            add(Problem("panel-units-rule", where, "no unit"))
        problems.extend(_check_datasource(panel.get("datasource"), where))
        targets = panel.get("targets") or []
        if not targets:
            add(Problem("panel-targets", where, "no queries"))
        for target in targets:
            twhere = f"{where} query {target.get('refId')}"
            problems.extend(_check_datasource(target.get("datasource"), twhere))
            expr = target.get("expr") or ""
            if not expr:
                add(Problem("target-promql-rule", twhere, "empty query"))
                continue
            for name in sorted(variables_in(expr) - variable_names - builtins):
                add(Problem("target-variable", twhere, f"uses ${name}, which is not a variable of the dashboard"))
            problems.extend(check_query(expr, twhere))
    problems.extend(_overlaps(boxes))
    return problems


def _overlaps(boxes: list[tuple[int, str, tuple[int, int, int, int]]]) -> list[Problem]:
    problems = []
    for i, (_, where, (x1, y1, w1, h1)) in enumerate(boxes):
        for other_id, _, (x2, y2, w2, h2) in boxes[i + 1:]:
            if x1 < x2 + w2 and x2 < x1 + w1 and y1 < y2 + h2 and y2 < y1 + h1:
                problems.append(Problem("panel-overlap", where, f"overlaps panel {other_id}"))
    return problems
