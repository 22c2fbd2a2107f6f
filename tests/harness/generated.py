"""`generate` for tests: the whole pipeline, written under OUT, with what it reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from triton_slo.alerts.generate import build_ops
from triton_slo.artifacts import Built, Options
from triton_slo.canary.rules import build_canary_rules
from triton_slo.dashboards.generate import build_dashboards
from triton_slo.model import Spec
from triton_slo.names import DASHBOARDS_DIR
from triton_slo.output import files
from triton_slo.pipeline import build_rule_tests, evaluation_seconds, generate
from triton_slo.rulefiles import build_rule_files
from triton_slo.rules import spec_rules


@dataclass
class Generated:
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_generate(specs: list[Spec], out: Path, options: Options | None = None) -> Generated:
    built, written = generate(list(specs), Path(out), options or Options())
    return Generated(written, built.notes, built.warnings)


def write_built(built: Built, out: Path) -> Generated:
    """One builder's artifacts written under ``out`` by the output layer (what a test of that
    builder alone looks at)."""
    return Generated(files.write(built.artifacts, Path(out)), built.notes, built.warnings)


def ops_generate(specs: list[Spec], out: Path, options: Options | None = None) -> Generated:
    """The ops alerts, their tests and alertmanager.yaml alone (the whole pipeline for Kubernetes)."""
    options = options or Options()
    if options.target == "kubernetes":
        return run_generate(specs, out, options)
    return write_built(build_ops(list(specs), with_tests=True), out)


def canary_generate(specs: list[Spec], out: Path, options: Options | None = None) -> Generated:
    """The canary rule files alone."""
    return write_built(build_canary_rules(list(specs), (options or Options()).evaluation_interval), out)


def slo_generate(specs: list[Spec], out: Path, options: Options | None = None, tests: bool = True) -> Generated:
    """The SLO rule files (and, unless ``tests`` is false, their promtool tests) alone."""
    options = options or Options()
    made = [spec_rules(spec, evaluation_seconds(options)) for spec in specs]
    built = build_rule_files(made)
    if tests:
        built.extend(build_rule_tests(made, options))
    return write_built(built, out)


def dashboards_generate(specs: list[Spec], out: Path, options: Options | None = None) -> Generated:
    """The dashboards and their provisioning file alone."""
    made = [spec_rules(spec, evaluation_seconds(options or Options())) for spec in specs]
    return write_built(build_dashboards(made, Path(out) / DASHBOARDS_DIR), out)
