"""Operational alerts of one service: endpoint, latency, GPU and accuracy (``OUT/rules/<service>-ops.yaml``).

Each alert reads the real series: Triton's ``nv_inference_*`` (service.triton_selector), the
triton-slo exporter's ``triton_slo_*`` (service.exporter_selector: decoded DCGM XIDs, throttle
reasons, memory headroom, serving state, golden-set probes) and Prometheus' own ``up``.
Thresholds come from ``spec.alerting.thresholds``. Severity ``critical`` pages, ``warning``
opens a ticket. Burn-rate and no-traffic alerts are slo/rules.py's; canary regression is
slo/canary's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from triton_slo.durations import format_duration
from triton_slo.links import dashboard_url, runbook_url
from triton_slo.model import Spec
from triton_slo.names import (  # noqa: F401 - OPS_ALERTS: re-exported, as its readers import it from here
    EXPORTER_UP,
    EXPORTER_UPSTREAM_DOWN,
    GOLDEN_ACCURACY_LOW,
    GOLDEN_CORRECT,
    GOLDEN_TOTAL,
    GPU_LOST,
    GPU_MEMORY_HEADROOM,
    GPU_MEMORY_HEADROOM_LOW,
    GPU_OUT_OF_MEMORY,
    GPU_THROTTLE_ACTIVE,
    GPU_THROTTLING,
    GPU_XID_ERRORS,
    LABEL_SERVICE,
    LABEL_SEVERITY,
    LABEL_UPSTREAM,
    MODEL_GPU_INFO,
    MODEL_NOT_READY,
    MODEL_READY,
    OPS_ALERTS,
    P99_LATENCY_HIGH,
    PAGE_SEVERITY,
    PROBE_LATENCY,
    QUEUE_TIME_GROWING,
    SERVER_DOWN,
    SERVER_LIVE,
    TICKET_SEVERITY,
    TRITON_QUEUE_DURATION_US,
    TRITON_REQUEST_FAILURE,
    TRITON_REQUEST_SUCCESS,
    TRITON_REQUEST_SUMMARY_US,
    UP,
    UPSTREAM_DCGM,
    UPSTREAM_EXPORTER,
    UPSTREAM_TRITON,
    UPSTREAM_TRITON_API,
    ops_group,
)
from triton_slo.promql import Matcher, alternation, equalities, model_matcher_sets, number, number_regex, selector

# XIDs of an out-of-memory fault: 31 (GPU memory page fault), 43 (GPU stopped processing: the
# application hit a fault, e.g. an illegal access after a failed allocation).
OOM_XIDS = ("31", "43")
# XIDs after which the GPU is gone or needs a reset (NVIDIA XID catalogue): 48 double-bit ECC,
# 62 internal micro-controller halt, 64 ECC row-remapper failure, 74 NVLink error, 79 fallen off
# the bus, 95 uncontained ECC error, 119/120 GSP RPC timeout / GSP error.
LOST_XIDS = ("48", "62", "64", "74", "79", "95", "119", "120")
# "Framebuffer exhausted": under 5% free at some point in the last 10 minutes. A CUDA allocation
# of a batch's activations fails well before 0% (fragmentation, the caching allocator's blocks).
OOM_HEADROOM_RATIO = 0.05
OOM_LOOKBACK = "10m"
LOST_LOOKBACK = "30m"  # a lost GPU keeps paging this long after its last XID
GOLDEN_WINDOW = "30m"
GOLDEN_MIN_SAMPLES = 20  # fewer golden answers in the window say nothing about accuracy
RATE_WINDOW = "5m"
# Throttle reasons that cost clocks under load (exporters/dcgm.py names); idle, application-clock
# and sync-boost "reasons" are not problems.
THROTTLE_PROBLEM_REASONS = ("sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
                            "hw_power_brake_slowdown")

@dataclass(frozen=True)
class OpsRule:
    """One alerting rule before it becomes YAML; ``labels`` holds the alert-specific ones."""

    alert: str
    severity: str
    expr: str
    for_seconds: int
    summary: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)


class Selectors:
    """PromQL selectors of one service: its Triton, its exporter, its models."""

    def __init__(self, spec: Spec) -> None:
        self.service = spec.service
        self.model_sets = model_matcher_sets(spec.service.models)

    def _with(self, metric: str, base: dict[str, str], extra: Iterable[Matcher], per_model: bool) -> list[str]:
        head = [("__name__", "=", metric), *equalities(base), *extra]
        sets = self.model_sets if per_model else [[]]
        return [selector([*head, *model_set]) for model_set in sets]

    def triton(self, metric: str, *extra: Matcher, per_model: bool = True) -> list[str]:
        return self._with(metric, self.service.triton_selector, extra, per_model)

    def exporter(self, metric: str, *extra: Matcher, per_model: bool = False) -> list[str]:
        return self._with(metric, self.service.exporter_selector, extra, per_model)


def any_of(selectors: list[str], wrap: Callable[[str], str] = lambda s: s) -> str:
    """One vector from several selectors (one per model/version set)."""
    parts = [wrap(s) for s in selectors]
    return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


def sum_rate(selectors: list[str], by: str = "model, version", window: str = RATE_WINDOW) -> str:
    return f"sum by ({by}) ({any_of(selectors, lambda s: f'rate({s}[{window}])')})"


def counter_increase(selectors: list[str], window: str) -> str:
    """Increase of a counter over ``window``, counting a series born inside the window from 0.

    The exporter creates an XID counter at 1 on the first XID of a code: ``increase`` alone never
    sees that first step.
    """
    return any_of(selectors, lambda s: f"increase({s}[{window}]) > 0 or ({s} unless {s} offset {window})")


# --- the alerts --------------------------------------------------------------------------------

def endpoint_rules(spec: Spec, sel: Selectors) -> list[OpsRule]:
    rules = []
    live = f"{any_of(sel.exporter(SERVER_LIVE))} == 0"
    scraped = f"{any_of(sel.triton(UP, per_model=False))} == 0" if spec.service.triton_selector else ""
    rules.append(OpsRule(
        SERVER_DOWN, PAGE_SEVERITY, f"{scraped}\nor\n{live}" if scraped else live, 60,
        "Triton Inference Server is down",
        "Triton at {{ $labels.instance }} (job {{ $labels.job }}) is not serving: Prometheus cannot "
        "scrape it or it reports not live (value {{ printf \"%.0f\" $value }}) for 1 minute; every "
        "model it serves is unavailable.",
    ))
    not_ready = f"{any_of(sel.exporter(MODEL_READY, per_model=True))} == 0"
    missing = [not_ready]
    server_live = f"count({any_of(sel.exporter(SERVER_LIVE))} == 1) > 0"
    for model in spec.service.models:
        for version in model.versions or ("",):
            extra = [("model", "=", model.name)] + ([("version", "=", version)] if version else [])
            absent = selector([("__name__", "=", MODEL_READY),
                               *equalities(spec.service.exporter_selector), *extra])
            missing.append(f"(absent({absent}) and on () {server_live})")
    rules.append(OpsRule(
        MODEL_NOT_READY, PAGE_SEVERITY, "\nor\n".join(missing), 180,
        "A model version is not ready on Triton",
        "Model {{ $labels.model }} version {{ $labels.version }} is not ready on Triton (ready = "
        "{{ printf \"%.0f\" $value }}; absent counts as not loaded) for 3 minutes: its requests fail.",
    ))
    triton_up = any_of(sel.exporter(EXPORTER_UP, (LABEL_UPSTREAM, "=~", f"{UPSTREAM_TRITON}|{UPSTREAM_TRITON_API}")))
    rules.append(OpsRule(
        EXPORTER_UPSTREAM_DOWN, PAGE_SEVERITY, f"{triton_up} == 0", 120,
        "The exporter cannot reach Triton",
        "The triton-slo exporter {{ $labels.instance }} cannot fetch upstream {{ $labels.upstream }} "
        "(up = {{ printf \"%.0f\" $value }}) for 2 minutes: Triton is unreachable or not answering.",
    ))
    dcgm_up = any_of(sel.exporter(EXPORTER_UP, (LABEL_UPSTREAM, "=", UPSTREAM_DCGM)))
    rules.append(OpsRule(
        EXPORTER_UPSTREAM_DOWN, TICKET_SEVERITY, f"{dcgm_up} == 0", 600,
        "The exporter cannot reach dcgm-exporter",
        "The triton-slo exporter {{ $labels.instance }} cannot fetch dcgm-exporter (up = "
        "{{ printf \"%.0f\" $value }}) for 10 minutes: GPU alerts (OOM, XID, throttling, memory "
        "headroom) are blind.",
        {LABEL_UPSTREAM: UPSTREAM_DCGM},
    ))
    if spec.service.exporter_selector:
        itself = any_of(sel.exporter(UP))
        rules.append(OpsRule(
            EXPORTER_UPSTREAM_DOWN, TICKET_SEVERITY, f"{itself} == 0", 300,
            "Prometheus cannot scrape the triton-slo exporter",
            "Prometheus cannot scrape the triton-slo exporter {{ $labels.instance }} (up = "
            "{{ printf \"%.0f\" $value }}) for 5 minutes: serving-state, GPU and golden-set alerts are blind.",
            {LABEL_UPSTREAM: UPSTREAM_EXPORTER},
        ))
    return rules


def latency_rules(spec: Spec, sel: Selectors) -> list[OpsRule]:
    t = spec.alerting.thresholds
    # NaN (no request in the summary's age window) is dropped by ">= 0"; replicas: the worst one.
    summary = sel.triton(TRITON_REQUEST_SUMMARY_US, ("quantile", "=~", number_regex(Decimal("0.99"))))
    p99_summary = f"max by (model, version) ({any_of(summary)} >= 0) / 1e6"
    buckets = sel.exporter(f"{PROBE_LATENCY}_bucket", per_model=True)
    p99_probes = f"histogram_quantile(0.99, {sum_rate(buckets, 'model, version, le')})"
    rules = []
    for severity, limit, for_seconds in ((PAGE_SEVERITY, t.p99_critical_seconds, 300),
                                         (TICKET_SEVERITY, t.p99_warning_seconds, 600)):
        if not limit:
            continue
        word = "page" if severity == PAGE_SEVERITY else "ticket"
        rules.append(OpsRule(
            P99_LATENCY_HIGH, severity, f"{p99_summary} > {number(limit)}", for_seconds,
            f"Triton P99 latency is above the {word} threshold",
            "P99 latency of {{ $labels.model }} version {{ $labels.version }} is "
            "{{ $value | humanizeDuration }} (Triton's summary), above "
            f"{format_duration(limit)} for {format_duration(for_seconds)}.",
            {"source": "triton_summary"},
        ))
        rules.append(OpsRule(
            P99_LATENCY_HIGH, severity,
            f"{p99_probes} > {number(limit)}\nunless on (model, version)\n{p99_summary}", for_seconds,
            f"Probe P99 latency is above the {word} threshold",
            "P99 latency of the exporter's probes to {{ $labels.model }} version {{ $labels.version }} is "
            "{{ $value | humanizeDuration }} (Triton's latency summaries are off), above "
            f"{format_duration(limit)} for {format_duration(for_seconds)}.",
            {"source": "probes"},
        ))
    return rules


def gpu_rules(spec: Spec, sel: Selectors) -> list[OpsRule]:
    t = spec.alerting.thresholds
    exhausted = (f"min by (UUID) (min_over_time({any_of(sel.exporter(GPU_MEMORY_HEADROOM))}[{OOM_LOOKBACK}])) "
                 f"< {number(OOM_HEADROOM_RATIO)}")
    oom_xids = sel.exporter(GPU_XID_ERRORS, ("xid", "=~", alternation(OOM_XIDS)))
    rules = [OpsRule(
        GPU_OUT_OF_MEMORY, PAGE_SEVERITY,
        f"sum by (gpu, UUID, xid) ({counter_increase(oom_xids, OOM_LOOKBACK)})\nand on (UUID)\n{exhausted}", 0,
        "A GPU ran out of memory (XID with framebuffer exhausted)",
        "GPU {{ $labels.gpu }} ({{ $labels.UUID }}) raised XID {{ $labels.xid }} "
        f"{{{{ printf \"%.0f\" $value }}}} time(s) in the last {OOM_LOOKBACK} while its framebuffer was "
        f"under {number(OOM_HEADROOM_RATIO * 100)}% free: inference on it is failing.",
        {"signal": "xid"},
    )]
    # Triton has no OOM reason: a CUDA OOM in a backend is a BACKEND failure (no reason label
    # before Triton 23.x). Joined to the GPUs the model runs on, with their framebuffer exhausted.
    failures = sel.triton(TRITON_REQUEST_FAILURE, ("reason", "=~", "BACKEND|"))
    placement = f"max by (model, version, gpu, UUID) ({any_of(sel.exporter(MODEL_GPU_INFO, per_model=True))})"
    rules.append(OpsRule(
        GPU_OUT_OF_MEMORY, PAGE_SEVERITY,
        f"(({sum_rate(failures)}) > 0)\n* on (model, version) group_right ()\n{placement}\n"
        f"and on (UUID)\n{exhausted}", 120,
        "Backend failures on a GPU whose framebuffer is exhausted (out of memory)",
        "Model {{ $labels.model }} version {{ $labels.version }} fails "
        "{{ printf \"%.3g\" $value }} requests/s with backend errors on GPU {{ $labels.gpu }} "
        f"({{{{ $labels.UUID }}}}), whose framebuffer was under {number(OOM_HEADROOM_RATIO * 100)}% "
        "free: most likely CUDA out of memory.",
        {"signal": "backend_errors"},
    ))
    lost = sel.exporter(GPU_XID_ERRORS, ("xid", "=~", alternation(LOST_XIDS)))
    rules.append(OpsRule(
        GPU_LOST, PAGE_SEVERITY, f"sum by (gpu, UUID, xid) ({counter_increase(lost, LOST_LOOKBACK)})", 0,
        "A GPU raised an XID that means it is lost or needs a reset",
        "GPU {{ $labels.gpu }} ({{ $labels.UUID }}) raised XID {{ $labels.xid }} "
        f"{{{{ printf \"%.0f\" $value }}}} time(s) in the last {LOST_LOOKBACK}: the GPU is lost or "
        "needs a reset; models on it cannot serve.",
    ))
    if t.memory_headroom_warning > 0:
        rules.append(OpsRule(
            GPU_MEMORY_HEADROOM_LOW, TICKET_SEVERITY,
            f"{any_of(sel.exporter(GPU_MEMORY_HEADROOM))} < {number(t.memory_headroom_warning)}", 900,
            "GPU memory headroom is low",
            "GPU {{ $labels.gpu }} ({{ $labels.UUID }}) has {{ $value | humanizePercentage }} of its "
            f"framebuffer free, under {number(t.memory_headroom_warning * 100)}% for 15 minutes: a larger "
            "batch or a deeper model will run out of memory.",
        ))
    throttled = sel.exporter(GPU_THROTTLE_ACTIVE, ("reason", "=~", alternation(THROTTLE_PROBLEM_REASONS)))
    rules.append(OpsRule(
        GPU_THROTTLING, TICKET_SEVERITY, f"{any_of(throttled, lambda s: f'avg_over_time({s}[5m])')} > 0.5",
        t.throttle_for_seconds,
        "GPU clocks are throttled (thermal or power)",
        "GPU {{ $labels.gpu }} ({{ $labels.UUID }}) is throttled for {{ $labels.reason }} "
        "{{ $value | humanizePercentage }} of the time, for "
        f"{format_duration(t.throttle_for_seconds)}: expect higher latency.",
    ))
    return rules


def model_rules(spec: Spec, sel: Selectors) -> list[OpsRule]:
    t = spec.alerting.thresholds
    rules = []
    if t.accuracy_warning > 0:
        correct = f"sum by (model, version) ({any_of(sel.exporter(GOLDEN_CORRECT, per_model=True), _inc)})"
        total = f"sum by (model, version) ({any_of(sel.exporter(GOLDEN_TOTAL, per_model=True), _inc)})"
        rules.append(OpsRule(
            GOLDEN_ACCURACY_LOW, TICKET_SEVERITY,
            f"{correct}\n/\n({total} >= {GOLDEN_MIN_SAMPLES})\n< {number(t.accuracy_warning)}", 900,
            "Golden-set accuracy is below its threshold",
            "Model {{ $labels.model }} version {{ $labels.version }} classifies "
            "{{ $value | humanizePercentage }} of the golden set correctly over the last "
            f"{GOLDEN_WINDOW}, under {number(t.accuracy_warning * 100)}% for 15 minutes.",
        ))
    if t.queue_time_warning_seconds > 0:
        queue = sum_rate(sel.triton(TRITON_QUEUE_DURATION_US))
        requests = sum_rate(sel.triton(TRITON_REQUEST_SUCCESS))
        rules.append(OpsRule(
            QUEUE_TIME_GROWING, TICKET_SEVERITY,
            f"{queue}\n/\n({requests} > 0)\n/ 1e6 > {number(t.queue_time_warning_seconds)}", 600,
            "Requests wait long in Triton's scheduler queue (batching saturated)",
            "Requests to {{ $labels.model }} version {{ $labels.version }} wait "
            "{{ $value | humanizeDuration }} on average in Triton's queue, above "
            f"{format_duration(t.queue_time_warning_seconds)} for 10 minutes: the model's instances "
            "cannot keep up with the load.",
        ))
    return rules


def _inc(s: str) -> str:
    return f"increase({s}[{GOLDEN_WINDOW}])"


def ops_rules(spec: Spec) -> list[OpsRule]:
    """Every operational alert of a spec, in a stable order."""
    sel = Selectors(spec)
    return endpoint_rules(spec, sel) + latency_rules(spec, sel) + gpu_rules(spec, sel) + model_rules(spec, sel)


def rule_labels(spec: Spec, rule: OpsRule) -> dict[str, str]:
    """Extra spec labels first; service and severity always win."""
    return {**spec.service.labels, **spec.alerting.labels, **rule.labels,
            LABEL_SERVICE: spec.service.name, LABEL_SEVERITY: rule.severity}


def rule_annotations(spec: Spec, rule: OpsRule) -> dict[str, str]:
    return {
        "summary": rule.summary,
        "description": rule.description,
        "runbook_url": runbook_url(spec.service.runbook_base_url, rule.alert),
        "dashboard_url": dashboard_url(spec.service, rule.alert),
    }


def rule_document(spec: Spec, rule: OpsRule) -> dict:
    """The rule as Prometheus reads it."""
    document: dict = {"alert": rule.alert, "expr": rule.expr}
    if rule.for_seconds:
        document["for"] = format_duration(rule.for_seconds)
    document["labels"] = rule_labels(spec, rule)
    document["annotations"] = rule_annotations(spec, rule)
    return document


def rule_groups(spec: Spec) -> list[dict]:
    return [{"name": ops_group(spec.service.name),
             "rules": [rule_document(spec, rule) for rule in ops_rules(spec)]}]
