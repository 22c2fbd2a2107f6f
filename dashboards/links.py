"""The dashboards' side of the links alerts carry: board titles, and (re-exported for the
builders) the names and links of ``triton_slo.names`` and ``triton_slo.links``.

Stable dashboard UIDs, fixed panel ids and which panel each alert links to are conventions
shared with the rules and alerts: they are defined in ``triton_slo.names`` (``dashboard_uid``,
``OncallPanel``, ``SloPanel``, ``ALERT_PANELS``), the URLs in ``triton_slo.links``. The builders
in ``dashboards.boards`` place these panels under these ids, and a test checks that every alert
lands on a panel that exists.
"""

from __future__ import annotations

from triton_slo.links import alerts_on, dashboard_path, dashboard_url, slug
from triton_slo.names import ALERT_PANELS, BOARDS, OncallPanel, SloPanel, dashboard_uid

__all__ = ["ALERT_PANELS", "BOARDS", "BOARD_TITLES", "OncallPanel", "SloPanel", "alerts_on", "dashboard_path",
           "dashboard_uid", "dashboard_url", "slug"]

BOARD_TITLES = {
    "executive": "Executive",
    "oncall": "On-call",
    "debug": "Debug",
    "slo": "SLOs",
}
