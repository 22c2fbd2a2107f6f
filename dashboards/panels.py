"""Panel builders on top of grafanalib, and a layout that assigns ids and grid positions.

Every builder demands a title, a description and a unit, so no panel can leave them out. What
grafanalib 0.7.1 cannot express (fractional min/max, threshold lines, reduce options) goes in
through its ``extraJson`` and is normalised by :mod:`dashboards.grafana`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from grafanalib import core as G

GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Step:
    """A threshold step: from ``value`` upwards the colour is ``color``."""

    value: float
    color: str


def _targets(queries: Sequence[Query]) -> list[G.Target]:
    return [
        G.Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i), instant=q.instant,
                 format="table" if q.instant else "time_series")
        for i, q in enumerate(queries)
    ]


def _links(links: Sequence[Link]) -> list[dict]:
    return [{"title": link.title, "url": link.url, "targetBlank": True} for link in links]


def _steps(base: str, steps: Sequence[Step]) -> list[dict]:
    return [{"color": base, "value": None}, *({"color": s.color, "value": s.value} for s in steps)]


def _limits(min_: float | None, max_: float | None, soft_min: float | None, soft_max: float | None) -> dict:
    defaults: dict = {}
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    custom = {}
    if soft_min is not None:
        custom["axisSoftMin"] = soft_min
    if soft_max is not None:
        custom["axisSoftMax"] = soft_max
    if custom:
        defaults["custom"] = custom
    return defaults


def timeseries(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    min: float | None = None,  # noqa: A002 - Grafana's name
    max: float | None = None,  # noqa: A002
    soft_min: float | None = None,
    soft_max: float | None = None,
    steps: Sequence[Step] = (),
    base_color: str = "green",
    draw_thresholds: bool = False,
    links: Sequence[Link] = (),
    bars: bool = False,
) -> G.TimeSeries:
    defaults = _limits(min, max, soft_min, soft_max)
    defaults["thresholds"] = {"mode": "absolute", "steps": _steps(base_color, steps)}
    return G.TimeSeries(
        title=title,
        description=description,
        unit=unit,
        targets=_targets(queries),
        links=_links(links),
        drawStyle="bars" if bars else "line",
        fillOpacity=60 if bars else 10,
        showPoints="never",
        spanNulls=True,
        legendDisplayMode="table",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        thresholdsStyleMode="line" if draw_thresholds and steps else "off",
        extraJson={"fieldConfig": {"defaults": defaults}},
    )


def stat(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    steps: Sequence[Step] = (),
    base_color: str = "green",
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
    links: Sequence[Link] = (),
    decimals: int | None = None,
) -> G.Stat:
    defaults = _limits(min, max, None, None)
    defaults["thresholds"] = {"mode": "absolute", "steps": _steps(base_color, steps)}
    return G.Stat(
        title=title,
        description=description,
        format=unit,
        targets=_targets(queries),
        links=_links(links),
        reduceCalc="lastNotNull",
        graphMode="area",
        colorMode="background",
        decimals=decimals,
        extraJson={"fieldConfig": {"defaults": defaults}},
    )


def gauge(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    min: float = 0.0,  # noqa: A002
    max: float = 1.0,  # noqa: A002
    steps: Sequence[Step] = (),
    base_color: str = "red",
    links: Sequence[Link] = (),
) -> G.GaugePanel:
    return G.GaugePanel(
        title=title,
        description=description,
        format=unit,
        targets=_targets(queries),
        links=_links(links),
        calc="lastNotNull",
        thresholdLabels=False,
        extraJson={
            "fieldConfig": {"defaults": {
                "min": min, "max": max, "thresholds": {"mode": "absolute", "steps": _steps(base_color, steps)},
            }},
        },
    )


def table(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    hide_columns: Sequence[str] = ("Time",),
    links: Sequence[Link] = (),
    rename: dict[str, str] | None = None,
) -> G.Table:
    organize: dict = {"id": "organize", "options": {"excludeByName": {name: True for name in hide_columns}}}
    if rename:
        organize["options"]["renameByName"] = dict(rename)
    return G.Table(
        title=title,
        description=description,
        unit=unit,
        targets=_targets(queries),
        links=_links(links),
        transformations=[{"id": "merge", "options": {}}, organize],
    )


def row(title: str) -> G.RowPanel:
    return G.RowPanel(title=title)


@dataclass
class Layout:
    """Places panels left to right in a 24-column grid; rows start a new line.

    Panels that alerts link to get a fixed id (``dashboards.links``); the rest are numbered from
    ``auto_id_from`` so adding a panel never renumbers a linked one.
    """

    auto_id_from: int = 100
    panels: list = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _line_height: int = 0
    _next_id: int = 0

    def _newline(self) -> None:
        self._y += self._line_height
        self._x, self._line_height = 0, 0

    def _id(self, fixed: int | None) -> int:
        if fixed is not None:
            return fixed
        self._next_id = max(self._next_id, self.auto_id_from)
        self._next_id += 1
        return self._next_id - 1

    def row(self, title: str) -> None:
        self._newline()
        panel = row(title)
        panel.id = self._id(None)
        panel.gridPos = G.GridPos(h=1, w=GRID_WIDTH, x=0, y=self._y)
        self.panels.append(panel)
        self._y += 1

    def add(self, panel: G.Panel, w: int = 12, h: int = 8, id: int | None = None) -> G.Panel:  # noqa: A002
        if not 0 < w <= GRID_WIDTH:
            raise ValueError(f"panel width {w} is outside 1..{GRID_WIDTH}")
        if self._x + w > GRID_WIDTH:
            self._newline()
        panel.id = self._id(id)
        panel.gridPos = G.GridPos(h=h, w=w, x=self._x, y=self._y)
        self._x += w
        self._line_height = max(self._line_height, h)
        self.panels.append(panel)
        return panel
