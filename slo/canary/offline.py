"""Offline input of `triton-slo canary judge`: the data file (JSON) and the canary config (YAML).

Data file: ``{"metrics": {NAME: ENTRY, ...}}`` (optionally ``"alpha"`` and ``"weight"``), where an
ENTRY holds raw samples per arm (``{"baseline": [...], "canary": [...]}``) or event counts per arm
(``{"baseline": {"bad": b, "total": n}, "canary": {...}}``) plus optional per-metric fields
(``direction``, ``margin``, ``critical``, ...). The config file sets the same fields and wins.
Every problem is a one-line UserError naming the file, the metric and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from triton_slo.canary.judge import CONFIG_FIELDS, Counts, MetricInput, Samples, resolve_config
from triton_slo.errors import UserError

ARMS = ("baseline", "canary")


@dataclass(frozen=True)
class JudgeSettings:
    alpha: float | None = None  # None: the data file's, else 0.05
    weight: float | None = None  # expected canary share of traffic, percent; 0: not checked
    metrics: dict[str, dict] | None = None  # per-metric fields from the config file


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise UserError(f"{what} {path}: {exc.strerror or exc}") from None


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{where}: {value!r} is not a number")
    if not math.isfinite(value):
        raise UserError(f"{where}: {value!r} is not finite (NaN/Inf samples are not data; count them as a "
                        "nonfinite metric instead)")
    return float(value)


def _settings_fields(raw: dict, where: str) -> tuple[float | None, float | None]:
    alpha = weight = None
    if "alpha" in raw:
        alpha = _number(raw["alpha"], f"{where}: field 'alpha'")
        if not 0 < alpha < 0.5:
            raise UserError(f"{where}: field 'alpha': {alpha} is not between 0 and 0.5")
    if "weight" in raw:
        weight = _number(raw["weight"], f"{where}: field 'weight'")
        if not 0 <= weight < 100:
            raise UserError(f"{where}: field 'weight': {weight} is not a canary share in percent (0-100)")
    return alpha, weight


def load_config(path: str) -> JudgeSettings:
    """A canary config: ``alpha``, ``weight`` and ``metrics`` (a mapping or a list with ``name``).

    A triton-slo spec's ``canary:`` section is accepted as it is.
    """
    try:
        raw = yaml.safe_load(_read(path, "--config"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise UserError(f"{path}{at}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if isinstance(raw, dict) and isinstance(raw.get("canary"), dict):
        raw = raw["canary"]
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with 'metrics' (and optionally 'alpha', 'weight')")
    alpha, weight = _settings_fields(raw, path)
    metrics: dict[str, dict] = {}
    listed = raw.get("metrics", {})
    if isinstance(listed, list):
        for i, item in enumerate(listed):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise UserError(f"{path}: metrics[{i}]: expected a mapping with a 'name'")
            metrics[item["name"]] = {k: v for k, v in item.items() if k != "name"}
    elif isinstance(listed, dict):
        for name, fields in listed.items():
            if not isinstance(fields, dict):
                raise UserError(f"{path}: metric {name!r}: expected a mapping of fields")
            metrics[str(name)] = dict(fields)
    else:
        raise UserError(f"{path}: field 'metrics': expected a mapping of metric name to fields, or a list")
    for name, fields in metrics.items():
        unknown = set(fields) - CONFIG_FIELDS
        if unknown:
            raise UserError(f"{path}: metric {name!r}: unknown field {sorted(unknown)[0]!r}")
    return JudgeSettings(alpha, weight, metrics)


def _arm(raw: object, where: str) -> tuple[str, object]:
    """('absent', None) | ('samples', array) | ('counts', (bad, total))."""
    if raw is None:
        return "absent", None
    if isinstance(raw, list):
        return "samples", np.array([_number(v, f"{where}[{i}]") for i, v in enumerate(raw)], dtype=float)
    if isinstance(raw, dict):
        unknown = set(raw) - {"bad", "total"}
        if unknown or "bad" not in raw or "total" not in raw:
            raise UserError(f"{where}: expected {{\"bad\": B, \"total\": N}}, got keys {sorted(raw)}")
        bad, total = (_number(raw[k], f"{where}.{k}") for k in ("bad", "total"))
        for key, value in (("bad", bad), ("total", total)):
            if value < 0 or value != int(value):
                raise UserError(f"{where}.{key}: {raw[key]!r} is not a count (an integer >= 0)")
        if bad > total:
            raise UserError(f"{where}: bad {int(bad)} > total {int(total)}")
        return "counts", (np.array([bad]), np.array([total]))
    raise UserError(f"{where}: expected a list of samples or {{\"bad\": B, \"total\": N}}, got {type(raw).__name__}")


def load_data(path: str, settings: JudgeSettings) -> tuple[list[MetricInput], float, float]:
    """The metrics to judge, alpha and the canary share (0..1) from the data file and the config."""
    try:
        raw = json.loads(_read(path, "--data"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("metrics"), dict):
        raise UserError(f"{path}: expected an object {{\"metrics\": {{NAME: ENTRY, ...}}}}")
    unknown = set(raw) - {"metrics", "alpha", "weight"}
    if unknown:
        raise UserError(f"{path}: unknown top-level field {sorted(unknown)[0]!r} (known: metrics, alpha, weight)")
    alpha, weight = _settings_fields(raw, path)
    config = settings.metrics or {}
    names = list(raw["metrics"]) + [n for n in config if n not in raw["metrics"]]
    if not names:
        raise UserError(f"{path}: field 'metrics' is empty: nothing to judge")
    inputs = []
    for name in names:
        entry = raw["metrics"].get(name, {"baseline": None, "canary": None})
        where = f"{path}: metric {name!r}"
        if not isinstance(entry, dict):
            raise UserError(f"{where}: expected an object with 'baseline' and 'canary'")
        extra = set(entry) - CONFIG_FIELDS - set(ARMS)
        if extra:
            raise UserError(f"{where}: unknown field {sorted(extra)[0]!r}")
        arms = {arm: _arm(entry.get(arm), f"{where}: field '{arm}'") for arm in ARMS}
        shapes = {shape for shape, _ in arms.values() if shape != "absent"}
        if len(shapes) > 1:
            raise UserError(f"{where}: one arm has samples and the other counts; give both in the same shape")
        counts = shapes == {"counts"}
        fields = {k: v for k, v in entry.items() if k not in ARMS}
        cfg = resolve_config(name, fields, config.get(name, {}), counts=counts, where=where)
        if counts:
            data = Counts(arms["baseline"][1], arms["canary"][1])
        else:
            data = Samples(*(None if arms[a][1] is None else arms[a][1][None, :] for a in ARMS))
        if cfg.paired and isinstance(data, Samples) and data.baseline is not None and data.canary is not None:
            if data.baseline.shape != data.canary.shape and "paired" in {**fields, **config.get(name, {})}:
                raise UserError(f"{where}: field 'paired': the arms have {data.baseline.shape[-1]} and "
                                f"{data.canary.shape[-1]} samples; paired samples need the same number")
        srm = cfg.kind not in ("accuracy", "memory", "nonfinite")
        inputs.append(MetricInput(cfg, data, srm=srm))
    final_alpha = next(a for a in (settings.alpha, alpha, 0.05) if a is not None)
    final_weight = next(w for w in (settings.weight, weight, 0.0) if w is not None)
    return inputs, final_alpha, final_weight / 100
