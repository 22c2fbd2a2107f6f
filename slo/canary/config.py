"""Canary metric configuration: what each metric is, its margin and test settings.

Light on purpose (no numpy or scipy): the rule generator reads it too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from triton_slo.errors import UserError

KINDS = ("latency", "error_ratio", "accuracy", "memory", "nonfinite", "generic")
MIN_SAMPLES = 5


@dataclass(frozen=True)
class Margin:
    """The change that matters: relative (``"5%"``) or absolute in the metric's unit."""

    value: float
    relative: bool
    text: str

    @staticmethod
    def parse(raw: object, where: str) -> Margin:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise UserError(f"{where}: margin {raw!r}: expected a number or a percentage like \"5%\"")
        text = str(raw).strip()
        relative = text.endswith("%")
        try:
            value = float(text[:-1]) / 100 if relative else float(text)
        except ValueError:
            raise UserError(f"{where}: margin {raw!r}: expected a number or a percentage like \"5%\"") from None
        if not math.isfinite(value) or value < 0:
            raise UserError(f"{where}: margin {raw!r}: must be a finite number >= 0")
        return Margin(value, relative, text)

    def bound(self, direction: str) -> float:
        """The margin on the effect scale (log ratio or difference), signed by the bad direction."""
        if self.relative:
            if direction == "decrease" and self.value >= 1:
                raise UserError(f"margin {self.text}: a decrease of 100% or more cannot be measured")
            return math.log1p(self.value) if direction == "increase" else math.log1p(-self.value)
        return self.value if direction == "increase" else -self.value


@dataclass(frozen=True)
class MetricConfig:
    name: str
    kind: str = "generic"
    direction: str = "increase"
    margin: Margin = Margin(0.10, True, "10%")
    critical: bool = False
    quantile: float | None = None  # latency: also compare this quantile
    threshold: float | None = None  # latency: also compare the share of samples above it
    exceedance_margin: float = 0.01  # ratio units, for the threshold check
    budget: float | None = None  # memory: the canary must stay at or under it
    paired: bool = False  # samples are paired (same items / same times) across arms
    min_samples: int = MIN_SAMPLES


# Defaults by name: the first rule whose words occur in the metric's name wins.
_NAME_DEFAULTS: tuple[tuple[frozenset[str], dict], ...] = (
    (frozenset({"nan", "nonfinite", "inf", "non_finite"}), {"kind": "nonfinite", "critical": True, "margin": "0"}),
    (frozenset({"accuracy", "golden", "correct", "top1", "top5"}),
     {"kind": "accuracy", "critical": True, "margin": "0.01", "direction": "decrease", "paired": True}),
    (frozenset({"error", "errors", "failure", "failures", "fail", "5xx"}),
     {"kind": "error_ratio", "critical": True, "margin": "0.001"}),
    (frozenset({"latency", "duration", "p99", "p95", "ttft", "response"}),
     {"kind": "latency", "critical": True, "margin": "10%", "quantile": 0.99}),
    (frozenset({"memory", "mem", "rss", "vram", "bytes"}),
     {"kind": "memory", "critical": False, "margin": "10%", "paired": True}),
)
_KIND_DEFAULTS = {kind: fields for words, fields in _NAME_DEFAULTS for kind in [fields["kind"]]}
_KIND_DEFAULTS["generic"] = {"kind": "generic", "critical": False, "margin": "10%"}
# Counts are bad events: a generic count gets an absolute margin in ratio units.
_COUNTS_GENERIC_MARGIN = "0.001"

CONFIG_FIELDS = {
    "kind", "direction", "margin", "critical", "quantile", "threshold", "exceedance_margin", "budget",
    "paired", "min_samples",
}


def defaults_for(name: str, kind: str = "") -> dict:
    """The default fields of a metric, by its kind if given, else by the words in its name."""
    if kind:
        return dict(_KIND_DEFAULTS[kind])
    words = set(re.split(r"[^a-z0-9]+", name.lower())) - {""}
    for keys, fields in _NAME_DEFAULTS:
        if words & keys:
            return dict(fields)
    return dict(_KIND_DEFAULTS["generic"])


def resolve_config(name: str, *layers: dict, counts: bool = False, where: str = "") -> MetricConfig:
    """Merge the defaults for ``name`` with ``layers`` (later ones win) and validate every field."""
    where = where or f"metric {name!r}"
    merged: dict = {}
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if v is not None})
    kind = merged.get("kind", "")
    if kind and kind not in KINDS:
        raise UserError(f"{where}: field 'kind': {kind!r} is not one of {', '.join(KINDS)}")
    fields = defaults_for(name, kind)
    if counts:
        fields.pop("paired", None)
        fields["direction"] = "increase"  # counts are bad events: more of them is worse
        if fields["kind"] == "accuracy":
            fields["margin"] = "0.01"
        if fields["kind"] in ("generic", "latency", "memory"):
            fields["margin"] = _COUNTS_GENERIC_MARGIN
    fields.update(merged)
    unknown = set(fields) - CONFIG_FIELDS
    if unknown:
        raise UserError(f"{where}: unknown field {sorted(unknown)[0]!r} (known: {', '.join(sorted(CONFIG_FIELDS))})")
    direction = fields.get("direction", "increase")
    if direction not in ("increase", "decrease"):
        raise UserError(f"{where}: field 'direction': {direction!r} is not 'increase' or 'decrease'")
    margin = Margin.parse(fields.get("margin", "10%"), f"{where}: field 'margin'")
    margin.bound(direction)  # validates a relative decrease
    config = MetricConfig(name=name, kind=fields["kind"], direction=direction, margin=margin)
    for key in ("critical", "paired"):
        if key in fields:
            if not isinstance(fields[key], bool):
                raise UserError(f"{where}: field {key!r}: {fields[key]!r} is not true or false")
            config = replace(config, **{key: fields[key]})
    for key in ("quantile", "threshold", "budget", "exceedance_margin"):
        if key in fields:
            value = fields[key]
            if value is False or value is None:
                config = replace(config, **{key: None} if key != "exceedance_margin" else {})
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise UserError(f"{where}: field {key!r}: {value!r} is not a number")
            if key == "quantile" and not 0 < value < 1:
                raise UserError(f"{where}: field 'quantile': {value} is not between 0 and 1 (e.g. 0.99)")
            if key == "exceedance_margin" and not 0 <= value < 1:
                raise UserError(f"{where}: field 'exceedance_margin': {value} is not a ratio in [0, 1)")
            config = replace(config, **{key: float(value)})
    if "min_samples" in fields:
        value = fields["min_samples"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise UserError(f"{where}: field 'min_samples': {value!r} is not an integer >= 2")
        config = replace(config, min_samples=value)
    return config
