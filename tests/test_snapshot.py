"""`triton-slo snapshot` against a real Prometheus scraping real Triton and dcgm-exporter recordings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from harness.stack.ports import free_port
from triton_slo.cli import main
from triton_slo.dashboards.generate import build
from triton_slo.dashboards.lint import panels_of
from triton_slo.dashboards.queries import default_values
from triton_slo.dashboards.snapshot import DPI, FIGURE_WIDTH_IN, _figure_size, collect, draw, format_value, legend
from triton_slo.promapi import PromAPI
from triton_slo.readers import load_spec
from triton_slo.rules import spec_rules

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "resnet-classifier.yaml"


def test_values_are_printed_in_the_panels_unit() -> None:
    assert format_value(0.0123, "s") == "12.3 ms"
    assert format_value(2.5e-5, "s") == "25 µs"
    assert format_value(0.999, "percentunit") == "99.9%"
    assert format_value(3 * 1024**3, "bytes") == "3 GiB"
    assert format_value(1.5e9, "hertz") == "1.5 GHz"
    assert format_value(0, "bool_yes_no") == "no" and format_value(1, "bool_yes_no") == "yes"
    assert format_value(float("nan"), "s") == "no value"
    assert format_value(12, "reqps") == "12 req/s"


def test_legends_follow_grafanas_legend_format() -> None:
    labels = {"__name__": "x", "model": "resnet_deep", "version": "1"}
    assert legend("{{model}} v{{version}}", labels) == "resnet_deep v1"
    assert legend("", labels) == "x{model=resnet_deep, version=1}"
    assert legend("", {}) == "value"


@pytest.fixture(scope="module")
def prometheus(shared_dir: Path) -> Iterator[str]:
    """Prometheus scraping the Triton recordings (scrape1, then scrape2: counters move) and a busy T4."""
    from harness.stack.prometheus import Prometheus
    from harness.stack.replay import ReplayServer

    fixtures = shared_dir / "fixtures"
    routes = {"/triton": fixtures / "triton_T4_7models_scrape1_sonic.prom",
              "/dcgm": fixtures / "dcgm_T4_under-load_ericsson_no-help-type.prom"}
    with ReplayServer(routes) as replay:
        targets = [{"job": "triton", "url": replay.url("/triton")},
                   {"job": "dcgm-exporter", "url": replay.url("/dcgm")}]
        with Prometheus(targets, scrape_interval="1s") as prom:
            prom.wait_for_series('up{job="dcgm-exporter"} == 1', timeout=20)
            time.sleep(4)
            replay.set("/triton", fixtures / "triton_T4_7models_scrape2_sonic.prom")
            time.sleep(4)
            yield prom.url


def _colored_pixels(image: np.ndarray, box: tuple[int, int, int, int]) -> int:
    left, top, right, bottom = box
    region = image[top:bottom, left:right, :3]
    return int(((region.max(axis=2) - region.min(axis=2)) > 0.3).sum())


def test_snapshot_png_draws_every_oncall_panel_and_its_data(prometheus: str, tmp_path: Path, capsys) -> None:
    from matplotlib.image import imread

    out = tmp_path / "oncall.png"
    argv = ["snapshot", "--prometheus", prometheus, "--spec", str(EXAMPLE), "-o", str(out),
            "--range", "1m", "--rate-interval", "5s"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out}: 14 panels")

    spec = load_spec(EXAMPLE)
    board = build(spec_rules(spec, 30), "oncall")
    expected = [p["title"] for p in panels_of(board) if p["type"] != "row"]
    end = time.time()
    panels = collect(board, PromAPI(prometheus), default_values(spec, rate_interval="5s"), end - 60, end, 1.0)
    fig, drawn = draw(panels, "t", "s")
    assert [d.title for d in drawn] == expected

    image = imread(out)
    width, height = _figure_size(panels)
    assert image.shape[:2] == (round(height * DPI), round(FIGURE_WIDTH_IN * DPI))
    with_data = {d.title for d in drawn if d.series}
    # What these recordings hold: Triton request counters and a T4's framebuffer; no exporter, no summary.
    assert {"Request rate per model version", "Error rate by reason", "Queue time per request",
            "GPU memory used per GPU", "Serving state"} <= with_data
    assert "P99 latency per model version" not in with_data  # Triton <= 22.08 had no summary
    for d in drawn:
        left, top, right, bottom = d.box
        assert 0 <= left < right <= image.shape[1] and 0 <= top < bottom <= image.shape[0]
        region = image[top:bottom, left:right, :3]
        assert region.std() > 0.01, f"{d.title}: nothing drawn"
        colored = _colored_pixels(image, d.box)
        if d.title in with_data:
            assert colored > 30, f"{d.title}: data but no coloured line or value on the image"
        else:
            assert colored == 0, f"{d.title}: no data but coloured pixels"


def test_snapshot_html_is_self_contained_and_lists_each_panel(prometheus: str, tmp_path: Path) -> None:
    out = tmp_path / "oncall.html"
    argv = ["snapshot", "--prometheus", prometheus, "--spec", str(EXAMPLE), "-o", str(out), "--range", "1m",
            "--var", "model=filter|gnn"]
    assert main(argv) == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "<script" not in page and "src=" not in page and "<link" not in page
    for panel in panels_of(build(spec_rules(load_spec(EXAMPLE), 30), "oncall")):
        if panel["type"] != "row":
            assert f"<td>{panel['title']}</td>" in page
    assert 'model=~&quot;filter|gnn&quot;' in page  # --var reached the queries
    assert "job=~&quot;dcgm-exporter&quot;" in page  # the spec's job, as Grafana would default it


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "x.jpg"], "must end in .png or .html"),
    (["-o", "x.png", "--var", "cluster=a"], "--var 'cluster=a'"),
    (["-o", "x.png", "--range", "an hour"], "--range"),
    (["-o", "x.png", "--spec", "/nonexistent/spec.yaml"], "/nonexistent/spec.yaml"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path, capsys) -> None:
    argv = ["snapshot", "--prometheus", f"http://127.0.0.1:{free_port()}", "--spec", str(EXAMPLE), *args]
    argv = [a if a not in ("x.jpg", "x.png") else str(tmp_path / a) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_an_unreachable_prometheus_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "x.png"
    assert main(["snapshot", "--prometheus", url, "--spec", str(EXAMPLE), "-o", str(out), "--query-timeout", "2"]) == 2
    err = capsys.readouterr().err
    assert "cannot connect" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
