"""The SLO spec model: what every generator, the status command and the canary judge read.

The readers (``slo.readers``: triton-slo files, Sloth and OpenSLO) build these
frozen dataclasses; nothing downstream reads YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Severity = Literal["critical", "warning"]


@dataclass(frozen=True)
class ModelRef:
    """A Triton model and the versions covered (empty: every version)."""

    name: str
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    team: str = ""
    owner: str = ""
    description: str = ""
    runbook_base_url: str = "runbooks"
    dashboard_base_url: str = ""
    triton_selector: dict[str, str] = field(default_factory=dict)
    dcgm_selector: dict[str, str] = field(default_factory=dict)
    exporter_selector: dict[str, str] = field(default_factory=dict)
    models: tuple[ModelRef, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Window:
    """The SLO period: rolling (``30d``) or the calendar month."""

    seconds: int
    text: str
    calendar: bool = False


@dataclass(frozen=True)
class BurnRateTier:
    """One multiwindow burn-rate alert condition (SRE Workbook, chapter 5)."""

    name: str
    severity: Severity
    factor: Decimal
    long_window: int
    short_window: int


@dataclass(frozen=True)
class AvailabilitySLI:
    """Triton's nv_inference_request_success vs nv_inference_request_failure."""

    exclude_reasons: tuple[str, ...] = ()
    kind: Literal["availability"] = "availability"


@dataclass(frozen=True)
class LatencySLI:
    """Share of requests faster than a threshold.

    ``histogram``: good = bucket at the threshold / count. ``summary``: time slices in which the
    summary quantile stayed under the threshold (OpenSLO Timeslices over Triton's quantiles).
    """

    threshold_seconds: float
    source: Literal["histogram", "summary"] = "summary"
    metric: str = ""
    metric_unit: Literal["s", "ms", "us"] = "s"
    quantile: float = 0.99
    slice_seconds: int = 60
    kind: Literal["latency"] = "latency"


@dataclass(frozen=True)
class RatioSLI:
    """Any good/total (or bad/total) PromQL pair; ``{{.window}}`` stands for the range.

    Or ``error_ratio`` alone: a precomputed error ratio (Sloth's ``sli.raw``). It has no event
    counts, so its period ratio is a time average (not traffic-weighted) and ``min_events`` and
    no-traffic alerts do not apply.
    """

    total: str = ""
    good: str = ""
    bad: str = ""
    error_ratio: str = ""
    kind: Literal["ratio"] = "ratio"

    @property
    def precomputed(self) -> bool:
        return bool(self.error_ratio)


@dataclass(frozen=True)
class TimesliceSLI:
    """A slice is good when ``query op threshold`` holds."""

    query: str
    op: Literal["<", "<=", ">", ">="]
    threshold: float
    slice_seconds: int = 60
    kind: Literal["timeslice"] = "timeslice"


@dataclass(frozen=True)
class AccuracySLI:
    """Golden-set accuracy from the exporter's probes (correct / total)."""

    kind: Literal["accuracy"] = "accuracy"


SLI = AvailabilitySLI | LatencySLI | RatioSLI | TimesliceSLI | AccuracySLI


@dataclass(frozen=True)
class SLOAlerting:
    page: bool = True
    ticket: bool = True
    labels: dict[str, str] = field(default_factory=dict)  # on every alert of the SLO
    annotations: dict[str, str] = field(default_factory=dict)
    # Only on the page (critical) or ticket (warning) tiers; a ``severity`` here replaces the
    # generated one on those alerts (Sloth's page_alert/ticket_alert), Alertmanager routes by it.
    page_labels: dict[str, str] = field(default_factory=dict)
    ticket_labels: dict[str, str] = field(default_factory=dict)
    page_annotations: dict[str, str] = field(default_factory=dict)
    ticket_annotations: dict[str, str] = field(default_factory=dict)
    runbook_url: str = ""
    min_events: int = 0
    no_traffic_for: int = 0  # seconds; 0 = no no-traffic alert
    tiers: tuple[BurnRateTier, ...] = ()  # empty: the Workbook's, scaled to the window

    def tier_labels(self, severity: Severity) -> dict[str, str]:
        """The user's labels of a tier's alert: the SLO's, then the page or ticket ones."""
        return {**self.labels, **(self.page_labels if severity == "critical" else self.ticket_labels)}

    def tier_annotations(self, severity: Severity) -> dict[str, str]:
        return {**self.annotations, **(self.page_annotations if severity == "critical" else self.ticket_annotations)}


@dataclass(frozen=True)
class SLO:
    name: str
    objective: Decimal  # percent, exact as written (99.9)
    window: Window
    sli: SLI
    description: str = ""
    alerting: SLOAlerting = field(default_factory=SLOAlerting)
    models: tuple[ModelRef, ...] = ()  # empty: the service's models
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def objective_ratio(self) -> Decimal:
        return self.objective / Decimal(100)

    @property
    def error_budget(self) -> Decimal:
        return Decimal(1) - self.objective_ratio


@dataclass(frozen=True)
class CanaryMetric:
    name: str
    direction: Literal["increase", "decrease"] = "increase"
    margin: str = ""  # "5%" relative or a number in the metric's unit
    critical: bool = False


@dataclass(frozen=True)
class Canary:
    label: str = "version"
    baseline: str = ""
    canary: str = ""
    weight: float = 0.0  # expected canary share of traffic, percent; 0: not checked
    warmup_seconds: int = 300
    window_seconds: int = 1800
    metrics: tuple[CanaryMetric, ...] = ()


@dataclass(frozen=True)
class Receiver:
    """An Alertmanager receiver; secrets are referenced by file, never inlined."""

    name: str
    type: Literal["webhook", "pagerduty", "slack", "email"]
    url: str = ""
    url_file: str = ""
    routing_key_file: str = ""
    channel: str = ""
    to: str = ""


@dataclass(frozen=True)
class MuteInterval:
    """An Alertmanager time interval (maintenance, planned retraining)."""

    name: str
    times: tuple[dict, ...]  # Alertmanager time_interval entries, validated
    severities: tuple[str, ...] = ("warning",)


@dataclass(frozen=True)
class OpsThresholds:
    """Thresholds of the operational alerts (alerts/), with defaults suited to ms models."""

    p99_warning_seconds: float = 0.1
    p99_critical_seconds: float = 0.25
    memory_headroom_warning: float = 0.1
    throttle_for_seconds: int = 900
    accuracy_warning: float = 0.0  # 0: not alerted
    queue_time_warning_seconds: float = 0.05
    no_traffic_for_seconds: int = 900


@dataclass(frozen=True)
class ServiceAlerting:
    receivers: tuple[Receiver, ...] = ()
    page_receiver: str = ""
    ticket_receiver: str = ""
    group_by: tuple[str, ...] = ("service", "slo", "model", "version")
    mute_intervals: tuple[MuteInterval, ...] = ()
    thresholds: OpsThresholds = field(default_factory=OpsThresholds)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    service: Service
    slos: tuple[SLO, ...]
    alerting: ServiceAlerting = field(default_factory=ServiceAlerting)
    canary: Canary | None = None
    path: str = ""
    source_format: Literal["triton-slo", "sloth", "openslo"] = "triton-slo"

    def models_of(self, slo: SLO) -> tuple[ModelRef, ...]:
        return slo.models or self.service.models
