"""`generate` for tests: the whole pipeline, written under OUT, with what it reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from triton_slo.artifacts import Options
from triton_slo.model import Spec
from triton_slo.pipeline import generate


@dataclass
class Generated:
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_generate(specs: list[Spec], out: Path, options: Options | None = None) -> Generated:
    built, written = generate(list(specs), Path(out), options or Options())
    return Generated(written, built.notes, built.warnings)
