"""The whole stack in one context manager: Triton, Prometheus, Alertmanager, webhook, replay."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.stack.alertmanager import Alertmanager, webhook_config
from harness.stack.models import MODEL_NAMES
from harness.stack.prometheus import Prometheus
from harness.stack.replay import ReplayServer
from harness.stack.triton import TritonServer
from harness.stack.webhook import WebhookReceiver

SHARED_FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures"  # beside the repository


class Stack:
    """Starts everything on loopback, Prometheus scraping Triton (job ``triton``) and every replay
    route (job ``replay<path with / as _>`` unless named in ``replay_jobs``), alerts routed
    Prometheus -> Alertmanager -> ``webhook``. Stops everything on exit, in reverse order.
    """

    def __init__(
        self,
        models: Iterable[str] = MODEL_NAMES,
        replay_routes: Mapping[str, Path] | None = None,
        replay_jobs: Mapping[str, str] | None = None,
        extra_scrape_targets: Iterable[Mapping[str, Any]] = (),
        rule_files: Iterable[Path] = (),
        alertmanager_config: str | Path | None = None,
        scrape_interval: str = "1s",
    ) -> None:
        self.models = tuple(models)
        self.replay_routes = dict(replay_routes or {})
        self.replay_jobs = dict(replay_jobs or {})
        self.extra_scrape_targets = list(extra_scrape_targets)
        self.rule_files = list(rule_files)
        self.alertmanager_config = alertmanager_config
        self.scrape_interval = scrape_interval
        self._exit = contextlib.ExitStack()
        self.webhook: WebhookReceiver | None = None
        self.replay: ReplayServer | None = None
        self.alertmanager: Alertmanager | None = None
        self.triton: TritonServer | None = None
        self.prometheus: Prometheus | None = None
        self.startup_seconds: dict[str, float] = {}

    def start(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def _timed(self, name: str, manager: Any) -> Any:
        began = time.monotonic()
        entered = self._exit.enter_context(manager)
        self.startup_seconds[name] = time.monotonic() - began
        return entered

    def _start(self) -> None:
        began = time.monotonic()
        self.webhook = self._timed("webhook", WebhookReceiver())
        self.replay = self._timed("replay", ReplayServer(self.replay_routes))
        config = self.alertmanager_config or webhook_config(self.webhook.url)
        self.alertmanager = self._timed("alertmanager", Alertmanager(config))
        self.triton = self._timed("triton", TritonServer(self.models))
        targets = [{"job": "triton", "targets": [self.triton.metrics_address]}]
        for path in self.replay_routes:
            job = self.replay_jobs.get(path, "replay" + path.replace("/", "_"))
            targets.append({"job": job, "url": self.replay.url(path)})
        targets += self.extra_scrape_targets
        self.prometheus = self._timed(
            "prometheus",
            Prometheus(
                targets,
                rule_files=self.rule_files,
                alertmanager_url=self.alertmanager.url,
                scrape_interval=self.scrape_interval,
                evaluation_interval=self.scrape_interval,
            ),
        )
        self.startup_seconds["total"] = time.monotonic() - began

    def stop(self) -> None:
        self._exit.close()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
