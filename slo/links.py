"""Where an alert links to: its runbook (``runbook_url``) and the dashboard panel that shows its
problem (``dashboard_url``), built from the names in ``triton_slo.names``. Core: imports only
``triton_slo.names`` and ``triton_slo.model``.
"""

from __future__ import annotations

from urllib.parse import quote

from triton_slo.model import Service
from triton_slo.names import ALERT_PANELS, dashboard_uid


def alerts_on(board: str, panel_id: int) -> list[str]:
    """The alerts that link to a panel (its runbook links)."""
    return [name for name, (b, p) in ALERT_PANELS.items() if b == board and p == panel_id]


def slug(service_name: str, board: str) -> str:
    return f"{service_name}-{board}".lower()


def dashboard_path(service_name: str, board: str) -> str:
    """The Grafana path of a board, ``/d/<uid>/<slug>``."""
    return f"/d/{dashboard_uid(service_name, board)}/{quote(slug(service_name, board))}"


def dashboard_url(service: Service, alertname: str) -> str:
    """Where on-call should look for an alert: the panel that shows it, else the on-call board."""
    board, panel = ALERT_PANELS.get(alertname, ("oncall", None))
    base = service.dashboard_base_url.rstrip("/")
    url = f"{base}/d/{dashboard_uid(service.name, board)}"
    return f"{url}?viewPanel={panel}" if panel is not None else url


def runbook_anchor(alertname: str) -> str:
    """The stable anchor and file stem of an alert's runbook: its name in lower case."""
    return alertname.lower()


def runbook_url(runbook_base_url: str, alertname: str) -> str:
    """The `runbook_url` annotation for an alert.

    A base with ``{alert}`` is a template (``https://wiki/x#{alert}``); a base ending in ``#`` takes
    the anchor; otherwise the runbook is ``<base>/<alertname lower case>.md`` (a Git host or the
    ``OUT/runbooks/`` folder).
    """
    anchor = runbook_anchor(alertname)
    if "{alert}" in runbook_base_url:
        return runbook_base_url.replace("{alert}", anchor)
    if runbook_base_url.endswith("#"):
        return runbook_base_url + anchor
    return f"{runbook_base_url.rstrip('/')}/{anchor}.md"
