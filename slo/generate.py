"""Runs every generator behind `triton-slo generate` and keeps the output layout in one place."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from slo.model import Spec

# (what it makes, module exposing generate(specs, out, options) -> Result), in dependency order.
GENERATORS: tuple[tuple[str, str], ...] = (
    ("SLO rules", "slo.rules"),
    ("SLO rule tests", "slo.rule_tests"),
    ("canary rules", "slo.canary.rules"),
    ("operational alerts and Alertmanager", "alerts.generate"),
    ("dashboards", "dashboards.generate"),
    ("runbooks", "runbooks.generate"),
    ("Kubernetes objects", "slo.kubernetes"),  # last: it wraps the files the others wrote
)


@dataclass(frozen=True)
class Options:
    target: str = "files"  # "files" or "kubernetes"
    evaluation_interval: str = "30s"
    # --target kubernetes only
    namespace: str = "monitoring"
    exporter_image: str = ""
    triton_url: str = ""
    dcgm_url: str = ""
    object_labels: tuple[tuple[str, str], ...] = ()


@dataclass
class Result:
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts to report (detection times, ...)
    warnings: list[str] = field(default_factory=list)  # problems the user should look at


def layout(out: Path) -> dict[str, Path]:
    """The output folders every generator writes into."""
    return {
        "rules": out / "rules",
        "tests": out / "tests",
        "dashboards": out / "dashboards",
        "runbooks": out / "runbooks",
    }


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Generators build millions of small acyclic objects (rules, tests, dashboards, YAML nodes) that
    live until their file is written; the cycle collector would walk them again and again, which
    costs about as much as the work itself for thousands of SLOs. Reference counting still frees
    them; the collector runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_generators(specs: list[Spec], out: Path, options: Options) -> tuple[Result, list[str]]:
    """Run every available generator; returns the merged result and what was skipped (and why)."""
    with _without_cyclic_gc():
        return _run(specs, out, options)


def _run(specs: list[Spec], out: Path, options: Options) -> tuple[Result, list[str]]:
    for folder in layout(out).values():
        folder.mkdir(parents=True, exist_ok=True)
    merged, skipped = Result(), []
    for what, module_name in GENERATORS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                skipped.append(f"{what}: not available in this version ({module_name})")
                continue
            raise
        result = module.generate(specs, out, options)
        merged.files.extend(result.files)
        merged.notes.extend(result.notes)
        merged.warnings.extend(result.warnings)
    return merged, skipped
