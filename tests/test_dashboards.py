"""Dashboards: Grafana's schema, the grafanalib fix layer, the linter, links, the generator output."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import promql_parser
import pytest
import yaml
from grafanalib import core as G
from harness.generated import dashboards_generate as generate
from triton_slo import names
from triton_slo.artifacts import Options
from triton_slo.burnrate import tiers_for
from triton_slo.dashboards import generate as dashboards
from triton_slo.dashboards import links
from triton_slo.dashboards.boards import BUILDERS
from triton_slo.dashboards.grafana import SCHEMA_VERSION, fix_thresholds, render
from triton_slo.dashboards.lint import lint, panels_of, queries_of
from triton_slo.dashboards.queries import default_values, fill_variables, regex_literal, slo_matchers
from triton_slo.model import (
    SLO,
    AvailabilitySLI,
    Canary,
    Service,
    Spec,
    TimesliceSLI,
    Window,
)
from triton_slo.readers import load_spec
from triton_slo.rules import plan, spec_rules
from triton_slo.runbooks import runbook_url

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "schemas" / "dashboard.jsonschema.json"
EXAMPLE = ROOT / "examples" / "resnet-classifier.yaml"


def build(spec: Spec, board: str) -> dict:
    return dashboards.build(spec_rules(spec, 30), board)


def build_all(spec: Spec) -> dict[str, dict]:
    return dashboards.build_all(spec_rules(spec, 30))


def minimal_spec(name: str = "digits", canary: bool = False) -> Spec:
    """A spec with no selectors and no models listed: every default path of the builders."""
    return Spec(
        service=Service(name=name),
        slos=(
            SLO("availability", Decimal("99.5"), Window(7 * 86400, "7d"), AvailabilitySLI()),
            SLO("headroom", Decimal("99"), Window(30 * 86400, "30d"),
                TimesliceSLI("min(triton_slo_gpu_memory_headroom_ratio)", ">=", 0.1)),
        ),
        canary=Canary(label="version", baseline="1", canary="2") if canary else None,
    )


def specs() -> list[Spec]:
    return [load_spec(EXAMPLE), minimal_spec(), minimal_spec("a-very-long-service-name-for-the-uid-limit", True)]


@pytest.fixture(scope="module")
def validator():
    if not SCHEMA.is_file():
        pytest.skip(f"Grafana's dashboard schema not found: {SCHEMA} is absent")
    import jsonschema

    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


# --- Grafana's schema and the fix layer ---------------------------------------------------------


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.service.name)
def test_every_board_validates_against_grafanas_schema_with_zero_errors(spec: Spec, validator) -> None:
    for board, data in build_all(spec).items():
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], f"{board}: {errors[:5]}"
        assert data["schemaVersion"] == SCHEMA_VERSION


def test_grafanalib_raw_output_is_invalid_and_the_fix_layer_repairs_each_known_defect(validator) -> None:
    from grafanalib._gen import DashboardEncoder

    board = G.Dashboard(
        title="defects", uid="defects-1",
        panels=[
            G.TimeSeries(title="t", description="d", unit="s", targets=[G.Target(expr="up", refId="A")],
                         gridPos=G.GridPos(h=8, w=12, x=0, y=0),
                         extraJson={"fieldConfig": {"defaults": {"min": 0.995, "custom": {"axisSoftMin": 0.99}}}}),
            G.Stat(title="s", description="d", format="short", targets=[G.Target(expr="up")],
                   gridPos=G.GridPos(h=8, w=6, x=12, y=0)),
            G.GaugePanel(title="g", description="d", format="percentunit", targets=[G.Target(expr="up")],
                         gridPos=G.GridPos(h=8, w=6, x=18, y=0)),
        ],
        templating=G.Templating(list=[G.Template(name="model", query="label_values(up, model)",
                                                 dataSource="${datasource}")]),
    ).auto_panel_ids()
    raw = json.loads(json.dumps(board.to_json_data(), cls=DashboardEncoder))
    # The defects the issue lists, as grafanalib 0.7.1 writes them:
    assert raw["schemaVersion"] == 12 and "rows" in raw and "sharedCrosshair" in raw
    timeseries, stat, gauge = raw["panels"]
    assert all(p["maxDataPoints"] == 100 for p in raw["panels"])
    assert all(t["datasource"] is None for p in raw["panels"] for t in p["targets"])
    assert stat["fieldConfig"]["defaults"]["thresholds"]["steps"] == ""
    assert gauge["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["value"] == "null"
    assert "options" not in gauge
    assert list(validator.iter_errors(raw)), "grafanalib's raw output was expected to fail the schema"

    fixed = render(board)
    assert list(validator.iter_errors(fixed)) == []
    assert fixed["schemaVersion"] == SCHEMA_VERSION
    assert not {"rows", "sharedCrosshair", "style", "hideControls", "__inputs"} & set(fixed)
    timeseries, stat, gauge = fixed["panels"]
    for panel in fixed["panels"]:
        assert "maxDataPoints" not in panel
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
        assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"][0] == {"color": "green", "value": None}
    assert [t["refId"] for t in stat["targets"]] == ["A"]
    assert timeseries["fieldConfig"]["defaults"]["min"] == 0.995  # fractional limits survive
    assert timeseries["fieldConfig"]["defaults"]["custom"]["axisSoftMin"] == 0.99
    assert gauge["options"]["reduceOptions"] == {"calcs": ["mean"], "fields": "", "values": False}
    assert gauge["fieldConfig"]["defaults"]["thresholds"]["steps"][1] == {"color": "red", "value": 80.0}
    assert "calcs" not in gauge["fieldConfig"]["defaults"]
    assert fixed["templating"]["list"][0]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_threshold_steps_become_a_null_base_then_numbers() -> None:
    assert fix_thresholds("") == {"mode": "absolute", "steps": [{"color": "green", "value": None}]}
    legacy = [{"color": "green", "value": "null", "op": "gt", "index": 0}, {"color": "red", "value": 80, "line": True}]
    assert fix_thresholds({"mode": "absolute", "steps": legacy})["steps"] == [
        {"color": "green", "value": None}, {"color": "red", "value": 80.0}]
    assert fix_thresholds([{"color": "red", "value": 0.5}])["steps"][0]["value"] is None
    with pytest.raises(ValueError, match="only the first"):
        fix_thresholds([{"color": "g", "value": None}, {"color": "r", "value": None}])


# --- the linter -----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.service.name)
def test_the_linter_finds_nothing_on_every_generated_board(spec: Spec) -> None:
    for board, data in build_all(spec).items():
        assert [str(p) for p in lint(data)] == [], board


def _first_panel(data: dict) -> dict:
    return next(p for p in data["panels"] if p["type"] != "row" and p["targets"])


@pytest.mark.parametrize(("rule", "break_it"), [
    ("target-rate-interval-rule", lambda d: _first_panel(d)["targets"][0].update(
        expr='rate(nv_inference_count{job=~"$job",instance=~"$instance"}[5m])')),
    ("target-job-rule", lambda d: _first_panel(d)["targets"][0].update(
        expr='nv_inference_count{instance=~"$instance"}')),
    ("target-instance-rule", lambda d: _first_panel(d)["targets"][0].update(expr='nv_inference_count{job="triton"}')),
    ("target-promql-rule", lambda d: _first_panel(d)["targets"][0].update(expr="sum(rate(x[$__rate_interval])")),
    ("target-variable", lambda d: _first_panel(d)["targets"][0].update(
        expr='up{job=~"$job",instance=~"$instance",cluster=~"$cluster"}')),
    ("panel-datasource-rule", lambda d: _first_panel(d).update(datasource={"type": "prometheus", "uid": "prod"})),
    ("panel-datasource-rule", lambda d: _first_panel(d)["targets"][0].update(datasource=None)),
    ("panel-units-rule", lambda d: _first_panel(d)["fieldConfig"]["defaults"].pop("unit")),
    ("panel-title-description-rule", lambda d: _first_panel(d).update(description=" ")),
    ("panel-title-description-rule", lambda d: _first_panel(d).update(title="")),
    ("panel-id", lambda d: _first_panel(d).update(id=d["panels"][0]["id"])),
    ("panel-gridpos", lambda d: _first_panel(d).update(gridPos={"x": 20, "y": 0, "w": 8, "h": 8})),
    ("panel-overlap", lambda d: _first_panel(d).update(gridPos=dict(d["panels"][0]["gridPos"], h=3))),
    ("schema-version", lambda d: d.update(schemaVersion=12)),
    ("uid", lambda d: d.update(uid="a/b")),
    ("template-datasource-rule", lambda d: d["templating"]["list"].pop(0)),
    ("template-on-time-change-reload-rule", lambda d: d["templating"]["list"][2].update(refresh=1)),
])
def test_the_linter_catches_each_rule(rule: str, break_it) -> None:
    data = copy.deepcopy(build(load_spec(EXAMPLE), "oncall"))
    break_it(data)
    assert rule in {p.rule for p in lint(data)}


# --- queries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.service.name)
def test_every_query_parses_with_the_template_variables_filled(spec: Spec) -> None:
    values = default_values(spec, rate_interval="2m", model="resnet_deep|resnet_baseline", gpu="0")
    count = 0
    for data in build_all(spec).values():
        for _panel, target in queries_of(data):
            promql_parser.parse(fill_variables(target["expr"], values))
            count += 1
        for annotation in data["annotations"]["list"]:
            if "expr" in annotation:
                promql_parser.parse(fill_variables(annotation["expr"], values))
    assert count > 40


def test_variable_values_are_escaped_for_promql_strings() -> None:
    assert regex_literal("triton-slo") == "triton-slo"
    assert regex_literal("a.b") == "a\\\\.b"  # a\\.b inside the PromQL string is the regex a\.b
    expr = fill_variables('up{job=~"$job"}', {"job": regex_literal("x.(y)")})
    assert promql_parser.parse(expr).matchers.matchers[0].value == "x\\.\\(y\\)"
    with pytest.raises(KeyError, match=r"\$nope"):
        fill_variables("up{a=~\"$nope\"}", {})


def raw_triton_selectors(expr: str) -> list[str]:
    """Names of nv_inference_* selectors not inside an aggregation (sum/max/min ...)."""
    from triton_slo.dashboards.lint import parse_template

    depth, raw = [0], []

    def pre(node) -> None:
        if isinstance(node, promql_parser.AggregateExpr):
            depth[0] += 1
        if isinstance(node, promql_parser.VectorSelector) and (node.name or "").startswith("nv_inference_"):
            if depth[0] == 0:
                raw.append(node.name)

    def post(node) -> None:
        if isinstance(node, promql_parser.AggregateExpr):
            depth[0] -= 1

    promql_parser.walk(parse_template(expr), pre, post)
    return raw


def test_triton_series_are_aggregated_by_model_and_version() -> None:
    """Triton writes one series per GPU plus one without: panels never show them raw."""
    assert raw_triton_selectors('rate(nv_inference_count{job="a"}[1m])') == ["nv_inference_count"]
    for data in build_all(load_spec(EXAMPLE)).values():
        for panel, target in queries_of(data):
            assert raw_triton_selectors(target["expr"]) == [], panel["title"]


def test_slo_board_draws_every_tier_threshold_on_the_windows_the_alerts_read() -> None:
    spec = load_spec(EXAMPLE)
    data = build(spec, "slo")
    for slo in spec.slos:
        p = plan(spec, slo)
        burn = next(q for q in panels_of(data) if q["title"] == f"{slo.name}: burn rate on the alert windows")
        drawn = [s["value"] for s in burn["fieldConfig"]["defaults"]["thresholds"]["steps"][1:]]
        assert drawn == sorted({float(t.factor) for t in tiers_for(slo)}) and drawn
        assert burn["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] == {"mode": "line"}
        windows = {w for t in p.tiers for w in (t.long_window, t.short_window)}
        assert len(burn["targets"]) == len(windows)
        for target, window in zip(burn["targets"], sorted(windows), strict=True):
            # the alert's own expression for this window, with the dashboard's variables in its selectors
            assert p.ratio_expr(window).replace(p.match, "{" + slo_matchers(slo.name) + "}") in target["expr"]
    assert [float(t.factor) for t in tiers_for(spec.slos[0])] == [14.4, 6.0, 3.0, 1.0]


# --- links, UIDs, runbooks ------------------------------------------------------------------------


def test_every_alert_links_to_a_panel_that_shows_it_with_its_runbook() -> None:
    alerts = names.ALL_ALERTS
    assert len(alerts) >= 16
    spec = load_spec(EXAMPLE)  # has a canary: every panel exists
    boards = build_all(spec)
    for alert in alerts:
        assert alert in links.ALERT_PANELS, alert
        board, panel_id = links.ALERT_PANELS[alert]
        panel = next((p for p in panels_of(boards[board]) if p["id"] == panel_id), None)
        assert panel is not None, f"{alert}: no panel {panel_id} on {board}"
        assert {"title": f"Runbook: {alert}", "url": runbook_url(spec.service.runbook_base_url, alert)} in [
            {"title": link["title"], "url": link["url"]} for link in panel["links"]], alert
        url = links.dashboard_url(spec.service, alert)
        assert url == f"https://grafana.example.com/d/{boards[board]['uid']}?viewPanel={panel_id}"


def test_uids_are_stable_unique_and_within_grafanas_limit() -> None:
    long = "a-very-long-service-name-for-the-uid-limit"
    uids = {links.dashboard_uid(name, board) for name in ("digits", long, long + "2") for board in links.BOARDS}
    assert len(uids) == 12
    assert all(8 <= len(uid) <= 40 for uid in uids)
    assert links.dashboard_uid(long, "oncall") == links.dashboard_uid(long, "oncall")
    assert build(minimal_spec(long), "debug")["uid"] == links.dashboard_uid(long, "debug")


def test_boards_link_to_each_other_and_carry_tags_variables_and_deployment_annotations() -> None:
    spec = load_spec(EXAMPLE)
    for data in build_all(spec).values():
        bar = data["links"][0]
        assert bar["type"] == "dashboards" and bar["includeVars"] and bar["keepTime"]
        assert set(bar["tags"]) <= set(data["tags"])  # each board carries the tags the bar lists
        assert {"datasource", "service", "model", "version", "gpu", "job", "instance"} <= {
            v["name"] for v in data["templating"]["list"]}
        names = [a["name"] for a in data["annotations"]["list"]]
        assert "Deployments: model version loaded" in names and "Model readiness changed" in names
        model = next(v for v in data["templating"]["list"] if v["name"] == "model")
        assert model["regex"] == "/^(resnet_baseline|resnet_deep|resnet_concat)$/"


# --- the generator --------------------------------------------------------------------------------


def test_generate_writes_each_board_and_a_provisioning_file(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLE)
    result = generate([spec, minimal_spec()], tmp_path, Options())
    folder = tmp_path / "dashboards"
    expected = {f"{s}-{b}.json" for s in ("resnet-classifier", "digits") for b in links.BOARDS}
    assert {p.name for p in result.files} == expected | {"provisioning.yaml"}
    assert {p.name for p in folder.iterdir()} == expected | {"provisioning.yaml"}
    data = json.loads((folder / "resnet-classifier-oncall.json").read_text())
    assert data["uid"] == links.dashboard_uid("resnet-classifier", "oncall")
    provider = yaml.safe_load((folder / "provisioning.yaml").read_text())["providers"][0]
    assert provider["type"] == "file" and Path(provider["options"]["path"]) == folder.resolve()
    assert any("Import" in note and "provisioning.yaml" in note for note in result.notes)
    assert result.warnings == []
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    generate([spec, minimal_spec()], tmp_path, Options())
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # same spec, same bytes


def test_every_builder_is_a_board_with_links() -> None:
    assert set(BUILDERS) | {"slo"} == set(links.BOARDS)
