"""An Alertmanager webhook receiver inside the test process, so tests can assert on pages.

Alertmanager POSTs one JSON notification per group (version 4 payload: ``status``,
``receiver``, ``groupLabels``, ``commonLabels``, ``alerts`` ...). ``alerts`` here is the list of
those notifications as received, in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from harness.stack.httpserver import BackgroundHTTPServer, QuietHandler

Notification = dict[str, Any]


class _WebhookHandler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802 - stdlib handler name
        owner: WebhookReceiver = self.owner
        try:
            payload = self.read_json()
        except ValueError:
            self.send_body(400, b"not JSON\n", "text/plain")
            return
        owner._receive(self.path, payload)
        self.send_body(200, b"ok\n", "text/plain")


class WebhookReceiver(BackgroundHTTPServer):
    """``with WebhookReceiver() as hook:`` then point Alertmanager's webhook_configs at ``hook.url``."""

    def __init__(self) -> None:
        super().__init__(_WebhookHandler, "webhook-receiver")
        self._cond = threading.Condition()
        self.alerts: list[Notification] = []  # notifications, each with its own "alerts" list

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.base_url + "/alerts"

    def clear(self) -> None:
        with self._cond:
            self.alerts.clear()

    def received_alerts(self) -> list[dict[str, Any]]:
        """Every single alert of every notification so far (labels, annotations, status ...)."""
        with self._cond:
            return [alert for note in self.alerts for alert in note.get("alerts", [])]

    def wait_for(self, predicate: Callable[[Notification], bool], timeout: float) -> Notification:
        """The first notification (old or new) where ``predicate`` holds; TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for note in self.alerts[seen:]:
                    if predicate(note):
                        return note
                seen = len(self.alerts)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"webhook: no matching Alertmanager notification in {timeout:g} s "
                        f"({len(self.alerts)} received: {_summary(self.alerts)})"
                    )
                self._cond.wait(left)

    def wait_for_alert(self, alertname: str, timeout: float, status: str = "firing", **labels: str) -> dict:
        """The first single alert named ``alertname`` with ``status`` and these labels."""

        def matches(alert: dict[str, Any]) -> bool:
            alert_labels = alert.get("labels", {})
            return (
                alert_labels.get("alertname") == alertname
                and alert.get("status") == status
                and all(alert_labels.get(k) == v for k, v in labels.items())
            )

        note = self.wait_for(lambda n: any(matches(a) for a in n.get("alerts", [])), timeout)
        return next(a for a in note["alerts"] if matches(a))

    def _receive(self, path: str, payload: Any) -> None:
        note = payload if isinstance(payload, dict) else {"payload": payload}
        note.setdefault("_path", path)
        with self._cond:
            self.alerts.append(note)
            self._cond.notify_all()


def _summary(notes: list[Notification]) -> str:
    alerts = [a for n in notes for a in n.get("alerts", [])]
    names = [f"{a.get('labels', {}).get('alertname')}/{a.get('status')}" for a in alerts]
    return ", ".join(names[-10:]) or "none"
