"""A real Alertmanager (Debian 0.25 binary) on a free port, clustering off, in a temp dir."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests
import yaml

from harness.stack.ports import free_port
from harness.stack.process import ManagedProcess, ServedBinary, StackError
from harness.stack.prometheus import find_binary

ALERTMANAGER_BINARIES = ("/usr/bin/prometheus-alertmanager", "prometheus-alertmanager", "alertmanager")


def webhook_config(url: str, group_by: Iterable[str] = ("alertname",), group_wait: str = "1s",
                   group_interval: str = "1s", repeat_interval: str = "1h") -> str:
    """An Alertmanager configuration that sends every alert to one webhook, quickly (for tests)."""
    config = {
        "route": {
            "receiver": "webhook",
            "group_by": list(group_by),
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [{"name": "webhook", "webhook_configs": [{"url": url, "send_resolved": True}]}],
    }
    return yaml.safe_dump(config, sort_keys=False)


class Alertmanager(ServedBinary):
    """``with Alertmanager(webhook_config(hook.url)) as am: am.post_alerts([...])``.

    ``config_yaml`` is the configuration text, or a path to a configuration file (read once at
    start and on ``reload``).
    """

    def __init__(self, config_yaml: str | Path, workdir: Path | None = None, startup_timeout: float = 20.0) -> None:
        self.config_source = config_yaml
        self.startup_timeout = startup_timeout
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="triton-slo-alertmanager-"))
        self.config_path = self.workdir / "alertmanager.yml"
        self.port = 0
        self._process: ManagedProcess | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "alertmanager.log"

    def _write_config(self) -> None:
        source = self.config_source
        text = Path(source).read_text() if isinstance(source, Path) else source
        self.config_path.write_text(text)

    def start(self) -> Alertmanager:
        binary = find_binary(ALERTMANAGER_BINARIES, "Alertmanager")
        self._write_config()
        self.port = free_port()
        argv = [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",  # no gossip port: a single instance
            "--log.level=info",
        ]
        self._launch("Alertmanager", argv)
        return self

    def reload(self, config_yaml: str | Path | None = None) -> None:
        """Load a new (or the re-read) configuration; StackError with the reason when refused."""
        if config_yaml is not None:
            self.config_source = config_yaml
        self._write_config()
        response = requests.post(self.url + "/-/reload", timeout=30)
        if response.status_code != 200:
            raise StackError(f"Alertmanager refused to reload: {response.text.strip()}")

    def post_alerts(self, alerts: Iterable[Mapping[str, Any]]) -> None:
        """POST alerts (dicts with labels, annotations, optional startsAt/endsAt) to /api/v2/alerts."""
        response = requests.post(self.url + "/api/v2/alerts", json=[dict(a) for a in alerts], timeout=10)
        if response.status_code != 200:
            raise StackError(f"Alertmanager rejected the alerts: HTTP {response.status_code} {response.text}")

    def alerts(self, **filters: Any) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds now (GET /api/v2/alerts)."""
        response = requests.get(self.url + "/api/v2/alerts", params=filters, timeout=10)
        response.raise_for_status()
        return response.json()
