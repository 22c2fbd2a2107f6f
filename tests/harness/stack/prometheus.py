"""A real Prometheus (the Debian 2.42 binary) with a generated configuration, on a free port.

Scrape targets are plain dicts so tests read like Prometheus configuration:
``{"job": "triton", "targets": ["127.0.0.1:8002"], "metrics_path": "/metrics", "scheme": "http",
"params": {...}, "labels": {...}}`` or the shorthand ``{"job": "dcgm", "url": "http://h:p/path"}``.
Rule files are loaded by absolute path; ``reload()`` (``--web.enable-lifecycle``) re-reads them and
a changed configuration (``set_rule_files``) and raises with Prometheus's reason when it refuses.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from harness.stack.ports import free_port
from harness.stack.process import ManagedProcess, ServedBinary, StackError

PROMETHEUS_BINARIES = ("/usr/bin/prometheus", "prometheus")


def find_binary(candidates: Iterable[str], what: str) -> str:
    """The first of ``candidates`` that exists (absolute) or is on PATH; StackError when none."""
    candidates = list(candidates)
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    raise StackError(f"{what} binary not found (looked for {', '.join(candidates)})")


def scrape_config(target: Mapping[str, Any], scrape_interval: str) -> dict[str, Any]:
    """One Prometheus scrape_config from a target dict (see the module docstring)."""
    unknown = set(target) - {"job", "targets", "url", "metrics_path", "scheme", "params", "labels",
                             "scrape_interval", "scrape_timeout", "honor_labels", "authorization"}
    if unknown or "job" not in target:
        raise ValueError(f"scrape target {dict(target)!r}: needs 'job'; unknown keys {sorted(unknown)}")
    targets = list(target.get("targets", []))
    metrics_path = target.get("metrics_path", "/metrics")
    scheme = target.get("scheme", "http")
    params = {k: v if isinstance(v, list) else [v] for k, v in dict(target.get("params", {})).items()}
    if "url" in target:
        parts = urlsplit(target["url"])
        targets.append(parts.netloc)
        scheme, metrics_path = parts.scheme or scheme, parts.path or "/metrics"
        for pair in filter(None, parts.query.split("&")):
            key, _, value = pair.partition("=")
            params.setdefault(key, []).append(value)
    if not targets:
        raise ValueError(f"scrape target for job {target['job']!r} has no 'targets' and no 'url'")
    config: dict[str, Any] = {
        "job_name": target["job"],
        "scrape_interval": target.get("scrape_interval", scrape_interval),
        "metrics_path": metrics_path,
        "scheme": scheme,
        "static_configs": [{"targets": targets, "labels": dict(target.get("labels", {}))}],
    }
    for key in ("scrape_timeout", "honor_labels", "authorization"):
        if key in target:
            config[key] = target[key]
    if params:
        config["params"] = params
    return config


class Prometheus(ServedBinary):
    """``with Prometheus([{"job": "triton", "targets": [triton.metrics_address]}]) as prom: prom.query(...)``."""

    def __init__(
        self,
        scrape_targets: Iterable[Mapping[str, Any]] = (),
        rule_files: Iterable[Path | str] = (),
        alertmanager_url: str | None = None,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        workdir: Path | None = None,
        startup_timeout: float = 20.0,
        external_labels: Mapping[str, str] | None = None,
        alert_resend_delay: str = "1s",
    ) -> None:
        self.scrape_targets = [dict(t) for t in scrape_targets]
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.alertmanager_url = alertmanager_url
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.external_labels = dict(external_labels or {})
        # Prometheus finds its Alertmanagers about 5 s after start and drops what fires before;
        # the default 1m resend delay would then hold a firing alert back for a minute.
        self.alert_resend_delay = alert_resend_delay
        self.startup_timeout = startup_timeout
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="triton-slo-prometheus-"))
        self.config_path = self.workdir / "prometheus.yml"
        self.port = 0
        self._process: ManagedProcess | None = None
        self.config_path.write_text(self.render_config())  # fails early on a bad target

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def render_config(self) -> str:
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [scrape_config(t, self.scrape_interval) for t in self.scrape_targets],
        }
        if self.external_labels:
            config["global"]["external_labels"] = self.external_labels
        if self.alertmanager_url:
            parts = urlsplit(self.alertmanager_url)
            alertmanager: dict[str, Any] = {"static_configs": [{"targets": [parts.netloc]}], "scheme": parts.scheme}
            if parts.path.strip("/"):
                alertmanager["path_prefix"] = parts.path
            config["alerting"] = {"alertmanagers": [alertmanager]}
        return yaml.safe_dump(config, sort_keys=False)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Prometheus:
        binary = find_binary(PROMETHEUS_BINARIES, "Prometheus")
        self.port = free_port()
        self.config_path.write_text(self.render_config())
        argv = [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            f"--rules.alert.resend-delay={self.alert_resend_delay}",
            "--log.level=info",
        ]
        self._launch("Prometheus", argv)
        return self

    # -- configuration changes ----------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the configuration and rule files (POST /-/reload); StackError with the reason."""
        self.config_path.write_text(self.render_config())
        response = requests.post(self.url + "/-/reload", timeout=30)
        if response.status_code != 200:
            # The HTTP answer names no file or line; Prometheus's log does.
            assert self._process is not None
            errors = [line for line in self._process.log_tail(20).splitlines() if "level=error" in line]
            raise StackError(f"Prometheus refused to reload: {response.text.strip()}; log: {' | '.join(errors[-3:])}")

    def set_rule_files(self, rule_files: Iterable[Path | str]) -> None:
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.reload()

    def set_scrape_targets(self, scrape_targets: Iterable[Mapping[str, Any]]) -> None:
        self.scrape_targets = [dict(t) for t in scrape_targets]
        self.reload()

    # -- HTTP API -----------------------------------------------------------------------------
    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path> and return ``data``; StackError with Prometheus's error otherwise."""
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        try:
            body = response.json()
        except ValueError:
            raise StackError(f"Prometheus /api/v1/{path}: HTTP {response.status_code} {response.text[:200]}") from None
        if body.get("status") != "success":
            raise StackError(f"Prometheus /api/v1/{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, time: float | None = None) -> list[dict[str, Any]]:
        """The result of an instant query: [{"metric": {...}, "value": [ts, "v"]}, ...]."""
        params: dict[str, Any] = {"query": expr}
        if time is not None:
            params["time"] = time
        data = self.api("query", **params)
        result = data["result"]
        return result if data["resultType"] in ("vector", "matrix") else [{"metric": {}, "value": result}]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def wait_for_series(self, expr: str, timeout: float, min_series: int = 1) -> list[dict[str, Any]]:
        """Poll ``expr`` until it returns at least ``min_series`` series; TimeoutError says what it saw."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while True:
            result = self.query(expr)
            if len(result) >= min_series:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Prometheus: {expr!r} returned {len(result)} series (wanted {min_series}) after "
                    f"{timeout:g} s; targets: {self.target_health()}"
                )
            time.sleep(0.25)

    def targets(self) -> list[dict[str, Any]]:
        return self.api("targets", state="active")["activeTargets"]

    def target_health(self) -> str:
        """job/instance=health (last error) for every active target, for error messages."""
        parts = []
        for t in self.targets():
            error = f" ({t['lastError']})" if t.get("lastError") else ""
            parts.append(f"{t['labels'].get('job')}/{t['labels'].get('instance')}={t['health']}{error}")
        return ", ".join(parts) or "none"

    def wait_for_targets_up(self, timeout: float) -> None:
        """Wait until every configured target has been scraped successfully."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            if targets and all(t["health"] == "up" for t in targets):
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"Prometheus targets not all up after {timeout:g} s: {self.target_health()}")
            time.sleep(0.25)

    def rules(self) -> list[dict[str, Any]]:
        """Loaded rule groups (with health and lastError per rule)."""
        return self.api("rules")["groups"]

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts Prometheus holds as pending or firing."""
        return self.api("alerts")["alerts"]
