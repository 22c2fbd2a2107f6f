"""Builder: the Grafana dashboards of each spec (OUT/dashboards/<service>-<board>.json) and provisioning.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from triton_slo import names
from triton_slo.artifacts import Artifact, Built
from triton_slo.dashboards.boards import BUILDERS, SLOS_PER_BOARD, board_names, slo_part, slo_parts, slos
from triton_slo.dashboards.grafana import render
from triton_slo.rules import SpecRules

PROVIDER_NAME = "triton-slo"
FOLDER = "triton-slo"


def build(made: SpecRules, board: str) -> dict[str, Any]:
    """One dashboard of a spec (a name of ``board_names(spec)``), as the JSON Grafana imports; the
    SLO rows read the plans the rules were made from."""
    spec = made.spec
    plans = {p.slo.name: p for p in made.plans}
    if board in BUILDERS:
        return render(BUILDERS[board](spec))
    if board == "slo":
        return render(slos(spec, plans))
    parts = len(slo_parts(spec))
    index = board.removeprefix("slo-")
    if not (index.isdigit() and 1 <= int(index) <= parts):
        raise KeyError(f"no board {board!r} for {spec.service.name} (boards: {', '.join(board_names(spec))})")
    return render(slo_part(spec, int(index), plans))


def build_all(made: SpecRules) -> dict[str, dict[str, Any]]:
    return {board: build(made, board) for board in board_names(made.spec)}


def provisioning(dashboards_dir: Path) -> dict[str, Any]:
    """A Grafana file provider (provisioning/dashboards/*.yaml) reading the generated folder."""
    return {
        "apiVersion": 1,
        "providers": [{
            "name": PROVIDER_NAME,
            "orgId": 1,
            "folder": FOLDER,
            "type": "file",
            "disableDeletion": False,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 60,
            "options": {"path": str(dashboards_dir.resolve()), "foldersFromFilesStructure": False},
        }],
    }


def how_to_use(dashboards_dir: Path) -> str:
    """What `make demo` and `triton-slo generate` print about the dashboards."""
    folder = dashboards_dir.resolve()
    return (
        f"dashboards: written to {folder}/ (executive, oncall, debug, slo per service). "
        f"Import: Grafana > Dashboards > New > Import, upload a .json and pick your Prometheus data source "
        f"(or POST it to /api/dashboards/db). "
        f"Provision: copy {folder / 'provisioning.yaml'} to /etc/grafana/provisioning/dashboards/ "
        f"(its path: points at {folder}; mount the folder there when Grafana runs in a container)."
    )


def build_dashboards(made: list[SpecRules], dashboards_dir: Path) -> Built:
    """Every board of every spec, and the provisioning file (its ``path`` is ``dashboards_dir``,
    where the output layer writes them)."""
    result = Built()
    uids: dict[str, str] = {}
    for spec_rules in made:
        spec = spec_rules.spec
        parts = len(slo_parts(spec))
        if parts:
            result.notes.append(
                f"dashboards: {spec.service.name} has {len(spec.slos)} SLOs: their rows are on {parts} boards of "
                f"{SLOS_PER_BOARD} ({spec.service.name}-slo-1.json to -slo-{parts}.json); the SLO board shows the "
                "worst SLOs and a table of every SLO")
        for board, data in build_all(spec_rules).items():
            name = names.dashboard_file(spec.service.name, board)
            if data["uid"] in uids:
                result.warnings.append(
                    f"dashboards: {name} and {uids[data['uid']]} share uid {data['uid']}; "
                    "Grafana keeps only one of them (service names must differ)")
            uids[data["uid"]] = name
            result.artifacts.append(Artifact(f"{names.DASHBOARDS_DIR}/{name}", "dashboard", data, "json",
                                             service=spec.service.name))
    result.artifacts.append(Artifact(
        f"{names.DASHBOARDS_DIR}/{names.PROVISIONING_FILE}", "provisioning", provisioning(dashboards_dir),
        header="# Grafana dashboard provisioning for the triton-slo dashboards in this folder.\n"
               "# Copy to /etc/grafana/provisioning/dashboards/ and make `path` point at this folder.\n"))
    result.notes.append(how_to_use(dashboards_dir))
    return result
