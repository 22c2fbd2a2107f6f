"""`triton-slo generate`, dashboards part: OUT/dashboards/<service>-<board>.json + provisioning.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from dashboards import links
from dashboards.boards import BUILDERS
from dashboards.grafana import render
from slo.generate import Options, Result
from slo.model import Spec

PROVIDER_NAME = "triton-slo"
FOLDER = "triton-slo"


def build(spec: Spec, board: str) -> dict[str, Any]:
    """One dashboard of a spec, as the JSON Grafana imports."""
    return render(BUILDERS[board](spec))


def build_all(spec: Spec) -> dict[str, dict[str, Any]]:
    return {board: build(spec, board) for board in links.BOARDS}


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


def generate(specs: list[Spec], out: Path, options: Options) -> Result:
    folder = out / "dashboards"
    folder.mkdir(parents=True, exist_ok=True)
    result = Result()
    uids: dict[str, str] = {}
    for spec in specs:
        for board, data in build_all(spec).items():
            path = folder / f"{spec.service.name}-{board}.json"
            if data["uid"] in uids:
                result.warnings.append(
                    f"dashboards: {path.name} and {uids[data['uid']]} share uid {data['uid']}; "
                    "Grafana keeps only one of them (service names must differ)")
            uids[data["uid"]] = path.name
            path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
            result.files.append(path)
    prov = folder / "provisioning.yaml"
    prov.write_text(
        "# Grafana dashboard provisioning for the triton-slo dashboards in this folder.\n"
        "# Copy to /etc/grafana/provisioning/dashboards/ and make `path` point at this folder.\n"
        + yaml.safe_dump(provisioning(folder), sort_keys=False)
    )
    result.files.append(prov)
    result.notes.append(how_to_use(folder))
    return result
