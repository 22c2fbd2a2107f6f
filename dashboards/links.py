"""Stable dashboard UIDs and the `dashboard_url` that alerts carry.

The dashboards part owns this mapping: an alert links to the dashboard (and panel) that shows
its problem.
"""

from __future__ import annotations

import hashlib

from slo.model import Service

BOARDS = ("executive", "oncall", "debug", "slo")

# alert name -> (board, panel id on that board); panel ids are fixed by the dashboard builders.
ALERT_PANELS: dict[str, tuple[str, int | None]] = {}


def dashboard_uid(service_name: str, board: str) -> str:
    """A stable UID (Grafana allows 40 characters): the same spec always gives the same links."""
    uid = f"tslo-{service_name}-{board}"
    if len(uid) <= 40:
        return uid
    digest = hashlib.sha1(service_name.encode()).hexdigest()[:8]
    return f"tslo-{service_name[: 40 - 16 - len(board)]}-{digest}-{board}"


def dashboard_url(service: Service, alertname: str) -> str:
    """Where on-call should look for an alert: the panel that shows it, else the on-call board."""
    board, panel = ALERT_PANELS.get(alertname, ("oncall", None))
    base = service.dashboard_base_url.rstrip("/")
    url = f"{base}/d/{dashboard_uid(service.name, board)}"
    return f"{url}?viewPanel={panel}" if panel is not None else url
