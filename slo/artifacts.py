"""What the builders of `triton-slo generate` make, in memory: artifacts, notes and warnings.

A builder returns a ``Built``; nothing is written until the output layer (``triton_slo.output``)
renders every artifact with the one writer of its format and moves the whole folder into place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# How an artifact's document becomes text: block YAML, indented JSON, or text as it is.
Format = Literal["yaml", "json", "text"]
# What an artifact is, for the parts that read other builders' artifacts (runbooks read the alert
# names of every rule file; the Kubernetes wrapping reads rules, dashboards and alertmanager.yaml).
Kind = Literal["rules", "rule-tests", "alertmanager", "dashboard", "provisioning", "runbook", "kubernetes"]


@dataclass(frozen=True)
class Flow:
    """A value written on one line as JSON (which is YAML): promtool test files hold hundreds of
    thousands of input series and checks, one line each."""

    value: Any


@dataclass(frozen=True)
class Options:
    """The options of `triton-slo generate`."""

    target: str = "files"  # "files" or "kubernetes"
    evaluation_interval: str = "30s"
    # --target kubernetes only
    namespace: str = "monitoring"
    exporter_image: str = ""
    triton_url: str = ""
    dcgm_url: str = ""
    object_labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Artifact:
    """One output file: its path under OUT, what it is, and its document (or text) and format."""

    path: str  # relative to OUT, '/'-separated: "rules/svc-slo.yaml"
    kind: Kind
    document: Any  # a dict for "yaml" and "json", a str for "text"
    format: Format = "yaml"
    header: str = ""  # comment lines before a YAML document
    service: str = ""  # the spec's service it belongs to ("" when it serves every spec)


@dataclass
class Built:
    """What a builder made: artifacts, facts to report, and problems the user should look at."""

    artifacts: list[Artifact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def extend(self, other: Built) -> None:
        self.artifacts.extend(other.artifacts)
        self.notes.extend(other.notes)
        self.warnings.extend(other.warnings)
