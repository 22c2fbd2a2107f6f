"""The servers the demo owns, started in dependency order and stopped in reverse, whatever happens.

Triton (PyTriton, CPU) serving the residual models; the exporter as a real ``triton-slo export``
subprocess reading Triton and, when a recording is found, a replay of a real dcgm-exporter
recording; Prometheus scraping the three jobs the spec names (``triton``, ``dcgm-exporter``,
``triton-slo``) and evaluating the generated rules; Alertmanager with the generated routes whose
receivers post to an in-process webhook, so every page and resolution can be observed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.stack.alertmanager import Alertmanager
from harness.stack.models import INPUT_SHAPE, MODEL_NAMES, write_golden_set
from harness.stack.ports import LOOPBACK, free_port
from harness.stack.process import ManagedProcess
from harness.stack.prometheus import Prometheus
from harness.stack.replay import ReplayServer
from harness.stack.triton import HARNESS_ROOT, TritonServer
from harness.stack.webhook import WebhookReceiver

TRITON_SUMMARY_MAX_AGE_S = 60  # Triton's summaries (prometheus-cpp) keep observations this long


class _Sleep(contextlib.AbstractContextManager):
    """A timed pause for ``DemoStack._timed`` (which enters a context manager)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> _Sleep:
        time.sleep(self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

DCGM_ROUTE = "/dcgm/metrics"
# Probes and golden checks often enough (defaults: every 15 s and 30 s) that a run of minutes holds
# enough samples for the canary judge's probe and accuracy checks (a few hundred per arm).
EXPORTER_CONFIG = """\
probes:
  interval: 200ms
  max_requests_per_second: 20
  refresh: 5s
  golden:
    interval: 2s
    batch_size: 32
"""


@dataclass
class StackSettings:
    workdir: Path  # logs and data of every server (cleared of old data at start)
    alertmanager_config: Path
    rule_files: list[Path]
    dcgm_recording: Path | None
    jobs: dict[str, str] = field(default_factory=lambda: {"triton": "triton", "dcgm": "dcgm-exporter",
                                                           "exporter": "triton-slo"})
    models: tuple[str, ...] = MODEL_NAMES
    scrape_interval: str = "1s"
    triton_cache: Path | None = None  # trained weights kept between runs (linked as Triton's weights folder)


class DemoStack:
    """``with DemoStack(settings, webhook) as stack:`` everything is up; on exit everything is stopped."""

    def __init__(self, settings: StackSettings, webhook: WebhookReceiver) -> None:
        self.settings = settings
        self.webhook = webhook
        self._exit = contextlib.ExitStack()
        self.replay: ReplayServer | None = None
        self.alertmanager: Alertmanager | None = None
        self.triton: TritonServer | None = None
        self.exporter: ManagedProcess | None = None
        self.exporter_url = ""
        self.exporter_command: list[str] = []
        self.prometheus: Prometheus | None = None
        self.startup_seconds: dict[str, float] = {}

    def __enter__(self) -> DemoStack:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _timed(self, name: str, manager: Any) -> Any:
        began = time.monotonic()
        entered = self._exit.enter_context(manager)
        self.startup_seconds[name] = round(time.monotonic() - began, 1)
        return entered

    def _dir(self, name: str) -> Path:
        path = self.settings.workdir / name
        if path.exists():  # old TSDB or silences would leak an earlier run into this one
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def _start(self) -> None:
        s = self.settings
        if s.dcgm_recording is not None:
            self.replay = self._timed("dcgm replay", ReplayServer({DCGM_ROUTE: s.dcgm_recording}))
        self.alertmanager = self._timed(
            "alertmanager", Alertmanager(s.alertmanager_config, workdir=self._dir("alertmanager")))
        self.triton = self._timed("triton", TritonServer(s.models, workdir=self._triton_dir()))
        self._warm_up()
        self._timed("forgetting the warm-up", _Sleep(TRITON_SUMMARY_MAX_AGE_S + 2))
        self.exporter = self._timed("exporter", self._exporter(self._dir("exporter")))
        targets: list[dict[str, Any]] = [
            {"job": s.jobs["triton"], "targets": [self.triton.metrics_address]},
            {"job": s.jobs["exporter"], "url": self.exporter_url + "/metrics"},
        ]
        if self.replay is not None:
            targets.append({"job": s.jobs["dcgm"], "url": self.replay.url(DCGM_ROUTE)})
        prometheus = Prometheus(targets, rule_files=s.rule_files, alertmanager_url=self.alertmanager.url,
                                scrape_interval=s.scrape_interval, evaluation_interval=s.scrape_interval,
                                workdir=self._dir("prometheus"))
        self.prometheus = self._timed("prometheus", prometheus)
        self.prometheus.wait_for_targets_up(timeout=60)
        unhealthy = [f"{g['file']}: {r['name']}: {r['lastError']}" for g in self.prometheus.rules()
                     for r in g["rules"] if r.get("health") == "err"]
        if unhealthy:
            raise RuntimeError(f"Prometheus cannot evaluate generated rules: {unhealthy[:3]}")

    def _warm_up(self, requests_per_model: int = 10) -> None:
        # The slow first calls stay in Triton's latency summaries for their whole max age (60 s): the
        # stack waits that long before Prometheus scrapes, or every early P99 slice would count as bad.
        """A few requests to every model before anything measures it (what model warm-up does in production):
        the first calls into a Python-backend model are slow and would count against the probe SLO."""
        assert self.triton is not None
        batch = np.zeros((4, *INPUT_SHAPE), np.float32)
        for model in self.settings.models:
            for _ in range(requests_per_model):
                self.triton.infer(model, batch)

    def _triton_dir(self) -> Path:
        """A short temporary folder (PyTriton binds unix sockets under it: 108 bytes at most), with the
        trained weights linked from the cache; its logs are copied to ``workdir/triton`` at the end."""
        short = Path(tempfile.mkdtemp(prefix="triton-slo-demo-"))
        logs = self._dir("triton")
        self._exit.callback(shutil.rmtree, short, ignore_errors=True)  # runs after Triton stopped
        self._exit.callback(lambda: [shutil.copy(f, logs) for f in short.glob("*.log")])
        if self.settings.triton_cache is not None:
            self.settings.triton_cache.mkdir(parents=True, exist_ok=True)
            (short / "weights").symlink_to(self.settings.triton_cache.resolve(), target_is_directory=True)
        return short

    def _exporter(self, workdir: Path) -> ManagedProcess:
        assert self.triton is not None
        token = workdir / "triton-token"
        token.touch(mode=0o600)
        token.write_text(self.triton.access_token)
        config = workdir / "exporter.yaml"
        config.write_text(EXPORTER_CONFIG)
        golden = write_golden_set(workdir / "digits_golden.npz")
        port = free_port()
        self.exporter_url = f"http://{LOOPBACK}:{port}"
        self.exporter_command = self.exporter_argv(token, config, golden, port)
        argv = [sys.executable, "-m", "triton_slo", *self.exporter_command]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HARNESS_ROOT), env.get("PYTHONPATH", "")) if p)
        process = ManagedProcess("triton-slo export", argv, workdir / "exporter.log", env=env, cwd=workdir)
        return _Started(process, self.exporter_url + "/metrics")

    def exporter_argv(self, token: Path, config: Path, golden: Path, port: int) -> list[str]:
        """The exporter's command line after ``triton-slo`` (also shown in the narration)."""
        assert self.triton is not None
        argv = ["export", "--triton", self.triton.http_url, "--triton-metrics", self.triton.metrics_url,
                "--triton-token-file", str(token), "--golden", str(golden), "--config", str(config),
                "--listen", f"{LOOPBACK}:{port}", "--no-passthrough"]
        if self.replay is not None:
            argv += ["--dcgm", self.replay.url(DCGM_ROUTE)]
        return argv


class _Started(contextlib.AbstractContextManager):
    """A ManagedProcess started on enter, ready once ``url`` answers, stopped on exit."""

    def __init__(self, process: ManagedProcess, url: str) -> None:
        self.process = process
        self.url = url

    def __enter__(self) -> ManagedProcess:
        self.process.start()
        try:
            self.process.wait_for_url(self.url, timeout=60)
        except BaseException:
            self.process.stop()
            raise
        return self.process

    def __exit__(self, *exc: object) -> None:
        self.process.stop()
