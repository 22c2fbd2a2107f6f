"""Stable dashboard UIDs, fixed panel ids, and the `dashboard_url` that alerts carry.

The dashboards part owns this mapping: an alert links to the dashboard (and panel) that shows
its problem. The builders in ``dashboards.boards`` place these panels under these ids, and a test
checks that every alert of CONVENTIONS.md lands on a panel that exists.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from triton_slo.model import Service

BOARDS = ("executive", "oncall", "debug", "slo")
BOARD_TITLES = {
    "executive": "Executive",
    "oncall": "On-call",
    "debug": "Debug",
    "slo": "SLOs",
}


class OncallPanel:
    """Panel ids of the on-call dashboard that alerts link to."""

    P99_LATENCY = 2
    P50_LATENCY = 3
    ERRORS_BY_REASON = 4
    REQUEST_RATE = 5
    FIRING_ALERTS = 6
    SERVING_STATE = 7
    OOM_XID_EVENTS = 8
    GPU_MEMORY_PER_GPU = 9
    GPU_MEMORY_PER_MODEL = 10
    QUEUE_TIME = 11
    CANARY_DELTAS = 12
    GPU_THROTTLING = 13
    EXPORTER_UPSTREAMS = 14
    GOLDEN_ACCURACY = 15


class SloPanel:
    """Panel ids of the per-SLO dashboard's overview row (every SLO at once)."""

    BUDGET_REMAINING = 2
    BURN_RATE = 3


# alert name -> (board, panel id on that board)
ALERT_PANELS: dict[str, tuple[str, int | None]] = {
    "TritonSloAvailabilityBudgetBurn": ("slo", SloPanel.BURN_RATE),
    "TritonSloLatencyBudgetBurn": ("slo", SloPanel.BURN_RATE),
    "TritonSloAccuracyBudgetBurn": ("slo", SloPanel.BURN_RATE),
    "TritonSloCustomBudgetBurn": ("slo", SloPanel.BURN_RATE),
    "TritonSloNoTraffic": ("oncall", OncallPanel.REQUEST_RATE),
    "TritonSloCanaryRegression": ("oncall", OncallPanel.CANARY_DELTAS),
    "TritonSloServerDown": ("oncall", OncallPanel.SERVING_STATE),
    "TritonSloModelNotReady": ("oncall", OncallPanel.SERVING_STATE),
    "TritonSloExporterUpstreamDown": ("oncall", OncallPanel.EXPORTER_UPSTREAMS),
    "TritonSloP99LatencyHigh": ("oncall", OncallPanel.P99_LATENCY),
    "TritonSloGpuOutOfMemory": ("oncall", OncallPanel.GPU_MEMORY_PER_GPU),
    "TritonSloGpuLost": ("oncall", OncallPanel.OOM_XID_EVENTS),
    "TritonSloGpuMemoryHeadroomLow": ("oncall", OncallPanel.GPU_MEMORY_PER_GPU),
    "TritonSloGpuThrottling": ("oncall", OncallPanel.GPU_THROTTLING),
    "TritonSloGoldenAccuracyLow": ("oncall", OncallPanel.GOLDEN_ACCURACY),
    "TritonSloQueueTimeGrowing": ("oncall", OncallPanel.QUEUE_TIME),
}


def alerts_on(board: str, panel_id: int) -> list[str]:
    """The alerts that link to a panel (its runbook links)."""
    return [name for name, (b, p) in ALERT_PANELS.items() if b == board and p == panel_id]


def dashboard_uid(service_name: str, board: str) -> str:
    """A stable UID (Grafana allows 40 characters): the same spec always gives the same links."""
    uid = f"tslo-{service_name}-{board}"
    if len(uid) <= 40:
        return uid
    digest = hashlib.sha1(service_name.encode()).hexdigest()[:8]
    return f"tslo-{service_name[: 40 - 16 - len(board)]}-{digest}-{board}"


def dashboard_path(service_name: str, board: str) -> str:
    """The Grafana path of a board, ``/d/<uid>/<slug>``."""
    return f"/d/{dashboard_uid(service_name, board)}/{quote(slug(service_name, board))}"


def slug(service_name: str, board: str) -> str:
    return f"{service_name}-{board}".lower()


def dashboard_url(service: Service, alertname: str) -> str:
    """Where on-call should look for an alert: the panel that shows it, else the on-call board."""
    board, panel = ALERT_PANELS.get(alertname, ("oncall", None))
    base = service.dashboard_base_url.rstrip("/")
    url = f"{base}/d/{dashboard_uid(service.name, board)}"
    return f"{url}?viewPanel={panel}" if panel is not None else url
