"""`triton-slo generate`, dashboards part: OUT/dashboards/<service>-<board>.json + provisioning.yaml."""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring_ascii as _ESCAPE  # the C escaper
from pathlib import Path
from typing import Any

import yaml
from triton_slo.dashboards.boards import BUILDERS, SLOS_PER_BOARD, board_names, slo_part, slo_parts
from triton_slo.dashboards.grafana import render
from triton_slo.generate import Options, Result
from triton_slo.model import Spec

PROVIDER_NAME = "triton-slo"
FOLDER = "triton-slo"


def build(spec: Spec, board: str) -> dict[str, Any]:
    """One dashboard of a spec (a name of ``board_names(spec)``), as the JSON Grafana imports."""
    if board in BUILDERS:
        return render(BUILDERS[board](spec))
    parts = len(slo_parts(spec))
    index = board.removeprefix("slo-")
    if not (index.isdigit() and 1 <= int(index) <= parts):
        raise KeyError(f"no board {board!r} for {spec.service.name} (boards: {', '.join(board_names(spec))})")
    return render(slo_part(spec, int(index)))


def build_all(spec: Spec) -> dict[str, dict[str, Any]]:
    return {board: build(spec, board) for board in board_names(spec)}


def json_text(data: Any) -> str:
    """``json.dumps(data, indent=2)``, byte for byte, at about twice its speed.

    The standard library indents in pure Python; here strings go through its C escaper and the
    rest is plain appends (dashboards of a large spec are megabytes). Anything but JSON's own types
    and string keys is left to ``json.dumps``.
    """
    out: list[str] = []
    emit = out.append
    text = _ESCAPE

    def walk(value: Any, indent: str) -> None:
        kind = type(value)
        if kind is str:
            emit(text(value))
        elif kind is dict:
            if not value:
                emit("{}")
                return
            inner = indent + "  "
            head = "{\n" + inner
            for key, item in value.items():
                if type(key) is not str:
                    raise TypeError(key)
                emit(head + text(key) + ": ")
                head = ",\n" + inner
                walk(item, inner)
            emit("\n" + indent + "}")
        elif kind is list:
            if not value:
                emit("[]")
                return
            inner = indent + "  "
            head = "[\n" + inner
            for item in value:
                emit(head)
                head = ",\n" + inner
                walk(item, inner)
            emit("\n" + indent + "]")
        elif value is None:
            emit("null")
        elif value is True:
            emit("true")
        elif value is False:
            emit("false")
        elif kind is int:
            emit(int.__repr__(value))
        elif kind is float and math.isfinite(value):
            emit(float.__repr__(value))
        else:
            raise TypeError(value)

    try:
        walk(data, "")
    except TypeError:
        return json.dumps(data, indent=2)
    return "".join(out)


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
        parts = len(slo_parts(spec))
        if parts:
            result.notes.append(
                f"dashboards: {spec.service.name} has {len(spec.slos)} SLOs: their rows are on {parts} boards of "
                f"{SLOS_PER_BOARD} ({spec.service.name}-slo-1.json to -slo-{parts}.json); the SLO board shows the "
                "worst SLOs and a table of every SLO")
        for board, data in build_all(spec).items():
            path = folder / f"{spec.service.name}-{board}.json"
            if data["uid"] in uids:
                result.warnings.append(
                    f"dashboards: {path.name} and {uids[data['uid']]} share uid {data['uid']}; "
                    "Grafana keeps only one of them (service names must differ)")
            uids[data["uid"]] = path.name
            path.write_text(json_text(data) + "\n")
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
