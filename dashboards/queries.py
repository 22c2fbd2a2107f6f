"""PromQL selectors of the dashboards and the template variables they are written against.

Every raw series is selected through a job and an instance variable of its source (Triton,
dcgm-exporter, the triton-slo exporter), plus the spec's own fixed matchers; recording rules
(names with ``:``) are selected by ``service`` and ``slo``. :func:`fill_variables` substitutes
values the way Grafana does, for the snapshot command and the tests that run every query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from triton_slo.model import Spec
from triton_slo.names import (
    DCGM_GPU_UTIL,
    EXPORTER_UP,
    LABEL_GPU,
    LABEL_MODEL,
    LABEL_SERVICE,
    LABEL_SLO,
    LABEL_VERSION,
    TRITON_REQUEST_SUCCESS,
)
from triton_slo.promql import Matcher, label_matchers

RATE = "$__rate_interval"
ALL = ".*"  # allValue of multi-value variables: also matches series without the label


@dataclass(frozen=True)
class Source:
    """A scrape source: its job and instance variables and the spec's fixed matchers."""

    job_var: str
    instance_var: str
    fixed: tuple[tuple[str, str], ...]
    default_job: str
    probe_metric: str  # a series every target of this source exposes (for variable queries)


def sources(spec: Spec) -> dict[str, Source]:
    service = spec.service

    def source(prefix: str, selector: Mapping[str, str], probe: str) -> Source:
        fixed = tuple(sorted((k, v) for k, v in selector.items() if k not in ("job", "instance")))
        return Source(f"{prefix}job", f"{prefix}instance", fixed, selector.get("job", ""), probe)

    return {
        "triton": source("", service.triton_selector, TRITON_REQUEST_SUCCESS),
        "dcgm": source("dcgm_", service.dcgm_selector, DCGM_GPU_UTIL),
        "exporter": source("exporter_", service.exporter_selector, EXPORTER_UP),
    }


PER_MODEL_VARIABLES: tuple[Matcher, ...] = ((LABEL_MODEL, "=~", "$model"), (LABEL_VERSION, "=~", "$version"))


def matchers(source: Source, *, per_model: bool = False, per_gpu: bool = False,
             **extra: tuple[str, str]) -> str:
    """The inside of ``{...}``: job/instance variables, fixed matchers, optional model/GPU variables,
    and ``extra`` matchers given as (op, value): ``quantile=("=", "0.99")``."""
    parts: list[Matcher] = [("job", "=~", f"${source.job_var}"), ("instance", "=~", f"${source.instance_var}")]
    parts += [(name, "=", value) for name, value in source.fixed]
    if per_model:
        parts += PER_MODEL_VARIABLES
    if per_gpu:
        parts.append((LABEL_GPU, "=~", "$gpu"))
    parts += [(name, op, value) for name, (op, value) in extra.items()]
    return label_matchers(parts, ",")


def slo_matchers(slo: str | None = None, *, per_model: bool = True) -> str:
    """The inside of ``{...}`` selecting recorded SLO series: the board's service, an SLO, the
    model/version variables."""
    parts: list[Matcher] = [(LABEL_SERVICE, "=", "$service")]
    if slo is not None:
        parts.append((LABEL_SLO, "=", slo))
    if per_model:
        parts += PER_MODEL_VARIABLES
    return label_matchers(parts, ",")


_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")


def variables_in(expr: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in _VARIABLE.finditer(expr)}


def fill_variables(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with every ``$var``/``${var}`` replaced; an unknown variable is a KeyError (a bug)."""

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            raise KeyError(f"no value for template variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


_REGEX_SPECIAL = re.compile(r"([.+*?()|\[\]{}^$\\])")


def regex_literal(value: str) -> str:
    """``value`` as a regex matching only itself, written for a PromQL string (backslashes doubled)."""
    return _REGEX_SPECIAL.sub(r"\\\\\1", value)


def default_values(spec: Spec, rate_interval: str = "1m", **overrides: str) -> dict[str, str]:
    """What Grafana substitutes on a fresh load: the spec's jobs, All for the rest."""
    src = sources(spec)
    values = {
        "service": spec.service.name,
        "model": ALL,
        "version": ALL,
        "gpu": ALL,
        "__rate_interval": rate_interval,
        "__interval": rate_interval,
        "__range": rate_interval,
        "datasource": "prometheus",
    }
    for source in src.values():
        values[source.job_var] = regex_literal(source.default_job) if source.default_job else ".+"
        values[source.instance_var] = ALL
    values.update(overrides)
    return values
