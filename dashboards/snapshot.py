"""`triton-slo snapshot`: the on-call dashboard's panels, drawn from a Prometheus API, without Grafana.

It builds the same dashboard JSON `generate` writes, fills its template variables the way Grafana
does on a fresh load (the spec's jobs, All for the rest, ``--var`` to narrow), runs every panel's
queries against ``--prometheus`` and draws each panel where its ``gridPos`` puts it.

Plotting library: matplotlib (already a project dependency). It renders headless (Agg), writes PNG
and SVG from one figure, and an SVG inlined in HTML makes a page with no JavaScript, no network
access and no other file, which is what "self-contained" asks for; browser-based libraries
(plotly, bokeh) would have to inline megabytes of JavaScript to say the same.
"""

from __future__ import annotations

import argparse
import html
import io
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triton_slo.dashboards.generate import build
from triton_slo.dashboards.links import BOARDS
from triton_slo.dashboards.lint import panels_of
from triton_slo.dashboards.queries import default_values, fill_variables
from triton_slo.durations import flag_duration, parse_duration
from triton_slo.errors import UserError
from triton_slo.promapi import PromAPI, add_prometheus_arguments, redact_url
from triton_slo.readers import SpecError, load_spec
from triton_slo.rules import spec_rules

HELP = "render the on-call dashboard's panels from a Prometheus API to a PNG or a self-contained HTML page"

GRID_COLUMNS = 24
FIGURE_WIDTH_IN = 20.0
GRID_UNIT_IN = 0.42  # height of one grid row, about Grafana's 30 px at 72 dpi
DPI = 100
MAX_POINTS = 240  # per series, like Grafana's maxDataPoints for a panel of ordinary width
MAX_DRAWN = 1e200  # a bigger value would overflow the axis' tick arithmetic: a gap, like NaN
MAX_RANGE_SECONDS = 10 * 365 * 86400  # --range and --rate-interval: drawn on a date axis, after 1970


@dataclass
class SeriesData:
    label: str
    points: list[tuple[float, float]]


@dataclass
class PanelData:
    """One panel's queries and what they returned (``error`` when Prometheus refused a query)."""

    id: int
    title: str
    type: str
    unit: str
    description: str
    grid: dict[str, int]
    queries: list[str] = field(default_factory=list)
    series: list[SeriesData] = field(default_factory=list)
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    error: str = ""


@dataclass
class Drawn:
    """Where a panel was drawn on the image (pixels, origin top left) and with how many series."""

    id: int
    title: str
    box: tuple[int, int, int, int]  # left, top, right, bottom
    series: int
    error: str


# --- values ---------------------------------------------------------------------------------------

_SCALES = {
    "s": [(1e-6, "µs"), (1e-3, "ms"), (1, "s"), (60, "min"), (3600, "h")],
    "bytes": [(1, "B"), (1024, "KiB"), (1024**2, "MiB"), (1024**3, "GiB"), (1024**4, "TiB")],
    "hertz": [(1, "Hz"), (1e3, "kHz"), (1e6, "MHz"), (1e9, "GHz")],
}

DEFAULT_EVALUATION_SECONDS = 30


def format_value(value: float, unit: str) -> str:
    """A value as Grafana would print it for the panel's unit (``0.0123`` s -> ``12.3 ms``)."""
    if value is None or math.isnan(value):
        return "no value"
    if value == 0 and unit not in ("bool_yes_no",):
        return "0"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if unit == "percentunit":
        return f"{value * 100:.3g}%"
    if unit == "percent":
        return f"{value:.3g}%"
    if unit == "bool_yes_no":
        return "yes" if value else "no"
    if unit in _SCALES:
        scale, name = _SCALES[unit][0]
        for size, label in _SCALES[unit]:
            if abs(value) >= size:
                scale, name = size, label
        return f"{value / scale:.3g} {name}"
    suffix = {"reqps": " req/s", "watt": " W", "celsius": " °C"}.get(unit, "")
    return f"{value:.3g}{suffix}"


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's legendFormat: ``{{model}} v{{version}}``; without one, the label set."""
    if template:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template).strip()
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    name = labels.get("__name__", "")
    return name + ("{" + ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) + "}" if shown else "") or "value"


# --- querying -------------------------------------------------------------------------------------


def collect(dashboard: dict[str, Any], api: PromAPI, values: dict[str, str], start: float, end: float,
            step: float) -> list[PanelData]:
    """Run every panel's queries: instant ones at ``end``, the rest over [start, end]."""
    panels = []
    for raw in panels_of(dashboard):
        if raw.get("type") == "row":
            panels.append(PanelData(raw["id"], raw.get("title", ""), "row", "", "", raw["gridPos"]))
            continue
        defaults = raw["fieldConfig"]["defaults"]
        steps = defaults.get("thresholds", {}).get("steps", [])
        drawn = (defaults.get("custom") or {}).get("thresholdsStyle", {}).get("mode", "off") != "off"
        panel = PanelData(
            id=raw["id"], title=raw.get("title", ""), type=raw["type"], unit=defaults.get("unit", ""),
            description=raw.get("description", ""), grid=raw["gridPos"],
            thresholds=[(s["value"], s["color"]) for s in steps if s["value"] is not None] if drawn else [],
        )
        for target in raw.get("targets") or []:
            expr = fill_variables(target["expr"], values)
            panel.queries.append(expr)
            try:
                if target.get("instant") or raw["type"] in ("stat", "table", "gauge"):
                    for sample in api.query(expr, time=end):
                        panel.series.append(SeriesData(legend(target.get("legendFormat", ""), sample.labels),
                                                       [(end, sample.value)]))
                else:
                    for series in api.query_range(expr, start, end, step):
                        # Only the points of the range asked for: a timestamp far outside it is a
                        # broken answer and would not fit on a date axis anyway.
                        points = [(t, v) for t, v in series.points if start - step <= t <= end + step]
                        panel.series.append(SeriesData(legend(target.get("legendFormat", ""), series.labels),
                                                       points))
            except UserError as exc:
                panel.error = str(exc)
        panels.append(panel)
    return panels


# --- drawing --------------------------------------------------------------------------------------

COLORS = {"green": "#37872d", "red": "#c4162a", "orange": "#fa6400", "yellow": "#e0b400", "blue": "#1f60c4"}


def _figure_size(panels: Sequence[PanelData]) -> tuple[float, float]:
    rows = max((p.grid["y"] + p.grid["h"] for p in panels), default=8)  # grid rows of the dashboard
    return FIGURE_WIDTH_IN, rows * GRID_UNIT_IN + 0.9


def draw(panels: Sequence[PanelData], title: str, subtitle: str) -> tuple[Any, list[Drawn]]:
    """A matplotlib figure laid out like the dashboard grid, and where each panel landed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.ticker import FuncFormatter

    width, height = _figure_size(panels)
    fig = plt.figure(figsize=(width, height), dpi=DPI, facecolor="white")
    header = 0.9 / height
    fig.text(0.01, 1 - 0.35 / height, title, fontsize=16, weight="bold", va="center")
    fig.text(0.01, 1 - 0.7 / height, subtitle, fontsize=9, color="#555", va="center")
    drawn: list[Drawn] = []
    body = 1 - header
    rows = max((p.grid["y"] + p.grid["h"] for p in panels), default=8)
    def y_of(grid_y: float) -> float:
        return body - grid_y / rows * body

    for panel in panels:
        g = panel.grid
        if panel.type == "row":
            fig.text(0.01, y_of(g["y"] + 0.5), panel.title, fontsize=13, weight="bold", color="#1f60c4",
                     va="center")
            continue
        left = g["x"] / GRID_COLUMNS + 0.055
        right = (g["x"] + g["w"]) / GRID_COLUMNS - 0.012
        top = y_of(g["y"] + 1.3)
        bottom = y_of(g["y"] + g["h"] - 0.9)
        ax = fig.add_axes((left, bottom, right - left, top - bottom))
        ax.set_title(panel.title, fontsize=10, loc="left", weight="bold")
        formatter = FuncFormatter(lambda v, _pos, unit=panel.unit: format_value(v, unit))
        if panel.error:
            _message(ax, f"query failed: {panel.error}", "#c4162a")
        elif not panel.series:
            _message(ax, "no data", "#777")
        elif panel.type == "timeseries":
            import datetime as dt

            for series in panel.series[:12]:
                xs = [dt.datetime.fromtimestamp(t) for t, _ in series.points]
                ys = [v if abs(v) <= MAX_DRAWN else math.nan for _, v in series.points]  # nan, inf: gaps
                ax.plot(xs, ys, linewidth=1.2, label=series.label)
            for value, color in panel.thresholds:
                ax.axhline(value, color=COLORS.get(color, color), linestyle="--", linewidth=0.9)
            ax.yaxis.set_major_formatter(formatter)
            ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=7))  # no fallback warning on short ranges
            ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S"))
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            more = f" (+{len(panel.series) - 12} more)" if len(panel.series) > 12 else ""
            ax.legend(fontsize=6, loc="upper left", ncol=2, framealpha=0.6,
                      title=more or None, title_fontsize=6)
        else:
            _values(ax, panel)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        x0, y0, x1, y1 = ax.get_position().extents
        box = (int(x0 * width * DPI), int((1 - y1) * height * DPI), int(x1 * width * DPI), int((1 - y0) * height * DPI))
        drawn.append(Drawn(panel.id, panel.title, box, len(panel.series), panel.error))
    return fig, drawn


def _message(ax: Any, text: str, color: str) -> None:
    ax.text(0.5, 0.5, text[:160], ha="center", va="center", fontsize=9, color=color, wrap=True,
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _values(ax: Any, panel: PanelData) -> None:
    """Stat and table panels: one line per series with its latest value."""
    ax.set_xticks([])
    ax.set_yticks([])
    lines = panel.series[:10]
    for i, series in enumerate(lines):
        value = series.points[-1][1] if series.points else math.nan
        good = not (panel.unit == "bool_yes_no" and not value)
        y = 1 - (i + 0.8) / max(len(lines) + 0.5, 4)
        ax.text(0.02, y, series.label, fontsize=9, va="center", transform=ax.transAxes)
        shown = format_value(value, panel.unit) if panel.type != "table" else ""
        ax.text(0.98, y, shown, fontsize=11, va="center", ha="right", weight="bold",
                color="#37872d" if good else "#c4162a", transform=ax.transAxes)
    if len(panel.series) > len(lines):
        ax.text(0.02, 0.02, f"+{len(panel.series) - len(lines)} more", fontsize=7, transform=ax.transAxes)


# --- output ---------------------------------------------------------------------------------------


def write_png(fig: Any, path: Path) -> None:
    fig.savefig(path, format="png", dpi=DPI, facecolor="white")


def write_html(fig: Any, panels: Sequence[PanelData], title: str, subtitle: str, path: Path) -> None:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", facecolor="white")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: the SVG is inlined
    rows = []
    for p in panels:
        if p.type == "row":
            continue
        state = f"query failed: {p.error}" if p.error else f"{len(p.series)} series" if p.series else "no data"
        queries = "".join(f"<li><code>{html.escape(q)}</code></li>" for q in p.queries)
        rows.append(f"<tr><td>{html.escape(p.title)}</td><td>{html.escape(p.description)}</td>"
                    f"<td>{html.escape(state)}</td><td><ul>{queries}</ul></td></tr>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1em}} svg{{max-width:100%;height:auto}}
table{{border-collapse:collapse;font-size:13px}} td{{border:1px solid #ccc;padding:4px;vertical-align:top}}
code{{font-size:11px}}</style></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>
{svg}
<h2>Panels and their queries</h2>
<table><tr><th>panel</th><th>what it shows</th><th>data</th><th>queries (variables filled)</th></tr>
{''.join(rows)}
</table></body></html>
"""
    path.write_text(page, encoding="utf-8")


# --- command --------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_prometheus_arguments(parser)
    parser.add_argument("--spec", required=True, metavar="SPEC", help="the service's SLO spec")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="FILE.png or FILE.html")
    parser.add_argument("--board", choices=BOARDS, default="oncall", help="dashboard to draw (default oncall)")
    parser.add_argument("--range", default="1h", metavar="DURATION", help="time range up to now (default 1h)")
    parser.add_argument("--rate-interval", default="1m", metavar="DURATION",
                        help="what $__rate_interval stands for (default 1m; at least 4 scrape intervals)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=REGEX",
                        help="a template variable's value, e.g. --var model=resnet_deep (repeatable)")


def _variables(args: argparse.Namespace, spec: Any) -> dict[str, str]:
    values = default_values(spec, rate_interval=args.rate_interval)
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep or name not in values or name.startswith("__"):
            known = ", ".join(sorted(k for k in values if not k.startswith("__")))
            raise UserError(f"--var {item!r}: expected NAME=REGEX with NAME one of {known}")
        values[name] = value
    return values


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".html"):
        raise UserError(f"-o {out}: the file name must end in .png or .html")
    for flag, text in (("--range", args.range), ("--rate-interval", args.rate_interval)):
        seconds = flag_duration(text, flag, positive=False)
        if not 1 <= seconds <= MAX_RANGE_SECONDS:
            raise UserError(f"{flag} {text!r}: expected 1s to 10y")
    if out.is_dir():
        raise UserError(f"-o {out}: is a folder; expected FILE.png or FILE.html")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise UserError(f"-o {out}: {parent} is not a folder")
    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    values = _variables(args, spec)
    api = PromAPI.from_args(args)
    api.query("vector(1)")  # unreachable or not a Prometheus API: one clear error before drawing
    end = time.time()
    start = end - parse_duration(args.range)
    step = max(1.0, (end - start) / MAX_POINTS)
    # The boards read the SLOs' plans; their windows do not depend on the evaluation interval.
    dashboard = build(spec_rules(spec, DEFAULT_EVALUATION_SECONDS), args.board)
    panels = collect(dashboard, api, values, start, end, step)
    title = dashboard["title"]
    shown_end = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(end))
    subtitle = (f"{redact_url(api.url)}, last {args.range} up to {shown_end}, "
                f"$__rate_interval={args.rate_interval}")
    fig, drawn = draw(panels, title, subtitle)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".png":
            write_png(fig, out)
        else:
            write_html(fig, panels, title, subtitle, out)
    except OSError as exc:
        raise UserError(f"-o {out}: {exc.strerror or exc}") from None
    empty = [d.title for d in drawn if not d.series and not d.error]
    failed = [d.title for d in drawn if d.error]
    print(f"wrote {out}: {len(drawn)} panels, {len(drawn) - len(empty) - len(failed)} with data"
          + (f"; no data: {', '.join(empty)}" if empty else "")
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 0
