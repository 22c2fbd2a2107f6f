"""Canary-delta recording rules and the TritonSloCanaryRegression ticket alert, from a spec's canary.

``OUT/rules/<service>-canary.yaml`` records, per service with a ``canary:`` section, the canary
minus the baseline over the canary window (``slo:canary_delta:*``), so a regression during a long
rollout shows on dashboards; the alert opens a ticket when a delta stays past the metric's margin
with enough traffic in both arms. The statistical verdict stays with `triton-slo canary`: the
alert is the long-rollout safety net, not the judge.
"""

from __future__ import annotations

from triton_slo import names
from triton_slo.artifacts import Artifact, Built
from triton_slo.canary.config import Margin, resolve_config
from triton_slo.durations import format_duration
from triton_slo.links import dashboard_url, runbook_url
from triton_slo.model import Canary, Spec
from triton_slo.names import CANARY_REGRESSION as ALERT
from triton_slo.promql import equalities, label_matchers, selector

MIN_REQUESTS = 100  # per arm in the window, before a delta may alert
FOR = "10m"


def _matchers(selector: dict[str, str], label: str, value: str) -> str:
    return label_matchers(equalities({**selector, label: value}), ",")


def _error_ratio(m: str, w: str) -> str:
    failed = f"sum(rate({names.TRITON_REQUEST_FAILURE}{{{m}}}[{w}]))"
    ok = f"sum(rate({names.TRITON_REQUEST_SUCCESS}{{{m}}}[{w}]))"
    return f"({failed} / clamp_min({failed} + {ok}, 1e-9))"


def _latency_mean(m: str, w: str) -> str:
    return (f"(sum(rate({names.TRITON_REQUEST_DURATION_US}{{{m}}}[{w}])) / 1e6 / "
            f"clamp_min(sum(rate({names.TRITON_REQUEST_SUCCESS}{{{m}}}[{w}])), 1e-9))")


def _accuracy(m: str, w: str) -> str:
    return (f"(sum(rate({names.GOLDEN_CORRECT}{{{m}}}[{w}])) / "
            f"clamp_min(sum(rate({names.GOLDEN_TOTAL}{{{m}}}[{w}])), 1e-9))")


def recording_rules(spec: Spec, canary: Canary) -> list[dict]:
    w = format_duration(canary.window_seconds)
    sel = spec.service.triton_selector
    b, c = _matchers(sel, canary.label, canary.baseline), _matchers(sel, canary.label, canary.canary)
    labels = {names.LABEL_SERVICE: spec.service.name, "baseline": canary.baseline, "canary": canary.canary}
    exprs = {
        "error_ratio": f"{_error_ratio(c, w)} - {_error_ratio(b, w)}",
        "error_ratio_relative": f"{_error_ratio(c, w)} / {_error_ratio(b, w)} - 1",
        "latency_mean_seconds": f"{_latency_mean(c, w)} - {_latency_mean(b, w)}",
        "latency_mean_relative": f"{_latency_mean(c, w)} / {_latency_mean(b, w)} - 1",
        "golden_accuracy": f"{_accuracy(c, w)} - {_accuracy(b, w)}",
    }
    # The traffic guard: the smaller of both arms' request counts ((a < b) or b is min(a, b)).
    requests = names.TRITON_REQUEST_SUCCESS
    exprs["requests_min"] = (
        f"(sum(increase({requests}{{{b}}}[{w}])) < sum(increase({requests}"
        f"{{{c}}}[{w}]))) or sum(increase({requests}{{{c}}}[{w}]))"
    )
    return [{"record": names.CANARY_DELTA + name, "expr": expr, "labels": dict(labels)}
            for name, expr in exprs.items()]


def _alert_terms(canary: Canary) -> list[tuple[str, str, str]]:
    """(metric, recorded delta, comparison with the margin) per canary metric that has a delta."""
    terms = []
    for metric in canary.metrics:
        fields = {"direction": metric.direction, **({"margin": metric.margin} if metric.margin else {})}
        kind = resolve_config(metric.name).kind
        if kind == "error_ratio":
            cfg = resolve_config(metric.name, fields, counts=True)
            series = "error_ratio_relative" if cfg.margin.relative else "error_ratio"
            terms.append((metric.name, series, f"> {cfg.margin.value:g}"))
        elif kind == "latency":
            cfg = resolve_config(metric.name, fields)
            if cfg.margin.relative:
                terms.append((metric.name, "latency_mean_relative", f"> {cfg.margin.value:g}"))
            else:  # an absolute latency margin is in the metric's unit; the recorded delta is in seconds
                unit = 1e-3 if metric.name.endswith("_ms") or not metric.name.endswith("_seconds") else 1.0
                terms.append((metric.name, "latency_mean_seconds", f"> {cfg.margin.value * unit:g}"))
        elif kind == "accuracy":
            margin = Margin.parse(metric.margin or "0.01", f"canary metric {metric.name!r}")
            terms.append((metric.name, "golden_accuracy", f"< -{margin.value:g}"))
    return terms


def alert_rules(spec: Spec, canary: Canary) -> list[dict]:
    service = spec.service.name
    window = format_duration(canary.window_seconds)
    rules = []
    for metric, series, comparison in _alert_terms(canary):
        of_service = selector([(names.LABEL_SERVICE, "=", service)])
        guard = f"{names.CANARY_DELTA}requests_min{of_service} >= {MIN_REQUESTS}"
        expr = f"{names.CANARY_DELTA}{series}{of_service} {comparison} and on(service) ({guard})"
        rules.append({
            "alert": ALERT,
            "expr": expr,
            "for": FOR,
            "labels": {**spec.service.labels, **spec.alerting.labels, names.LABEL_SEVERITY: names.TICKET_SEVERITY,
                       names.LABEL_SERVICE: service, "metric": metric, "baseline": canary.baseline,
                       "canary": canary.canary},
            "annotations": {
                "summary": "The canary is worse than the baseline",
                "description": (f"{canary.label}={canary.canary} vs {canary.baseline}: {metric} delta "
                                f"({series}) is {{{{ $value }}}} over {window}, past the margin ({comparison}). "
                                "Run `triton-slo canary` for the verdict before promoting."),
                "runbook_url": runbook_url(spec.service.runbook_base_url, ALERT),
                "dashboard_url": dashboard_url(spec.service, ALERT),
            },
        })
    return rules


def build_canary_rules(specs: list[Spec], evaluation_interval: str) -> Built:
    """Per spec with a canary section, ``OUT/rules/<service>-canary.yaml``."""
    result = Built()
    for spec in specs:
        canary = spec.canary
        if canary is None or not canary.baseline or not canary.canary:
            continue
        groups = [{"name": names.canary_group(spec.service.name), "interval": evaluation_interval,
                   "rules": recording_rules(spec, canary) + alert_rules(spec, canary)}]
        result.artifacts.append(Artifact(
            f"{names.RULES_DIR}/{names.canary_rule_file(spec.service.name)}", "rules", {"groups": groups},
            header=names.FILE_HEADER.format(source=spec.path or spec.service.name), service=spec.service.name))
        if not _alert_terms(canary):
            result.warnings.append(f"{spec.service.name}: no canary metric has a recorded delta; "
                                   f"{ALERT} cannot fire")
    return result
