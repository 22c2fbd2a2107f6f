"""A real Triton Inference Server (PyTriton, CPU) serving the residual models, in a subprocess.

``TritonServer`` starts ``python -m harness.stack.triton_worker`` in its own process group: the
worker trains the models (or loads the weights an earlier start of this object saved), binds them
to PyTriton and runs tritonserver on free loopback ports. The test process is therefore not tied
to Triton's lifetime: ``stop``, ``start``, ``restart`` and ``kill`` work like on a real host, and
faults are switched through the worker's small control API.

PyTriton guards the statistics, model-repository, trace, logging and shared-memory APIs with an
access token sent in the ``triton-access-token`` header; ``access_token`` and ``auth_headers``
expose it so the exporter can read /v2/models/stats.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import requests

from harness.stack.models import INPUT_NAME, MODEL_NAMES, OUTPUT_NAME
from harness.stack.ports import LOOPBACK, free_ports
from harness.stack.process import ManagedProcess, StackError

ACCESS_HEADER = "triton-access-token"  # the header PyTriton's restricted endpoints expect
HARNESS_ROOT = Path(__file__).resolve().parents[2]  # tests/: the worker is harness.stack.triton_worker


class TritonServer:
    """``with TritonServer() as triton: triton.http_url, triton.set_fault("resnet_deep", "errors")``."""

    def __init__(
        self,
        models: Iterable[str] = MODEL_NAMES,
        workdir: Path | None = None,
        startup_timeout: float = 120.0,
        metrics_interval_ms: int = 1000,
        max_batch_size: int = 512,
        log_verbose: int = 0,
    ) -> None:
        self.models = tuple(models)
        unknown = [m for m in self.models if m not in MODEL_NAMES]
        if unknown:
            raise ValueError(f"unknown model(s) {', '.join(unknown)} (known: {', '.join(MODEL_NAMES)})")
        self.startup_timeout = startup_timeout
        self.metrics_interval_ms = metrics_interval_ms
        self.max_batch_size = max_batch_size
        self.log_verbose = log_verbose
        self.access_token = secrets.token_urlsafe(24)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="triton-slo-triton-"))
        self._starts = itertools.count(1)
        self._process: ManagedProcess | None = None
        self.http_port = self.grpc_port = self.metrics_port = self.control_port = 0
        self.startup_seconds: float | None = None

    # -- addresses -------------------------------------------------------------------------
    @property
    def http_address(self) -> str:
        return f"{LOOPBACK}:{self.http_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.http_address}"

    @property
    def grpc_address(self) -> str:
        """host:port, what tritonclient.grpc takes."""
        return f"{LOOPBACK}:{self.grpc_port}"

    @property
    def grpc_url(self) -> str:
        return f"grpc://{self.grpc_address}"

    @property
    def metrics_address(self) -> str:
        """host:port of /metrics, the form of a Prometheus scrape target."""
        return f"{LOOPBACK}:{self.metrics_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.metrics_address}/metrics"

    @property
    def control_url(self) -> str:
        return f"http://{LOOPBACK}:{self.control_port}"

    @property
    def auth_headers(self) -> dict[str, str]:
        """Headers for PyTriton's restricted APIs (statistics, model repository, ...)."""
        return {ACCESS_HEADER: self.access_token}

    @property
    def log_path(self) -> Path | None:
        return self._process.log_path if self._process else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> TritonServer:
        """Start the worker and wait until Triton serves every model (StackError with its log if not)."""
        if self.running():
            raise StackError(f"Triton is already running (pid {self.pid})")
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        number = next(self._starts)
        self.http_port, self.grpc_port, self.metrics_port, self.control_port = free_ports(4)
        config = {
            "models": list(self.models),
            "http_port": self.http_port,
            "grpc_port": self.grpc_port,
            "metrics_port": self.metrics_port,
            "control_port": self.control_port,
            "access_token": self.access_token,
            "workspace": str(self.workdir / f"workspace-{number}"),
            "weights_dir": str(self.workdir / "weights"),
            "metrics_interval_ms": self.metrics_interval_ms,
            "max_batch_size": self.max_batch_size,
            "log_verbose": self.log_verbose,
            "parent_pid": os.getpid(),  # the worker stops itself if this process dies
        }
        config_path = self.workdir / f"worker-{number}.json"
        config_path.write_text(json.dumps(config, indent=2))
        self._process = ManagedProcess(
            "Triton (PyTriton worker)",
            [sys.executable, "-m", "harness.stack.triton_worker", str(config_path)],
            self.workdir / f"triton-{number}.log",
            env=_worker_env(),
            cwd=self.workdir,
        ).start()
        try:
            self._wait_ready(began + self.startup_timeout)
        except BaseException:
            self._process.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, deadline: float) -> None:
        process = self._process
        assert process is not None

        def left() -> float:
            return max(0.1, deadline - time.monotonic())

        process.wait_for_url(self.control_url + "/status", left(), ready=lambda r: r.ok and r.json()["ready"])
        process.wait_for_url(self.http_url + "/v2/health/ready", left())
        for model in self.models:
            process.wait_for_url(f"{self.http_url}/v2/models/{model}/ready", left())
        process.wait_for_url(self.metrics_url, left())

    def running(self) -> bool:
        return self._process is not None and self._process.running()

    def stop(self) -> None:
        """Stop Triton gracefully (SIGTERM to the worker's process group, SIGKILL after 20 s)."""
        if self._process is not None:
            self._process.stop(timeout=20)
            _remove_shared_memory(self._process.pid)

    def kill(self) -> None:
        """SIGKILL Triton and the worker at once, as a crash would."""
        if self._process is not None:
            self._process.kill()
            self._process.stop()  # forget it, reap stragglers
            _remove_shared_memory(self._process.pid)

    def restart(self) -> TritonServer:
        """Stop, then start again on new ports (weights come from the first start's cache)."""
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- faults and status -------------------------------------------------------------------
    def set_fault(self, model: str, fault: str, enabled: bool = True, **params: float) -> dict[str, Any]:
        """Switch ``fault`` (errors, latency, memory, accuracy, nonfinite) on or off in ``model``."""
        body = {"model": model, "fault": fault, "enabled": enabled, "params": params}
        return self._control("POST", "/fault", body)

    def clear_faults(self) -> None:
        self._control("POST", "/clear", {})

    def worker_status(self) -> dict[str, Any]:
        """The worker's view: per model golden accuracy, faults on, requests seen; its RSS."""
        return self._control("GET", "/status")

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self.running():
            raise StackError("Triton is not running")
        response = requests.request(method, self.control_url + path, json=body, timeout=10)
        if response.status_code == 400:
            raise ValueError(response.json()["error"])
        if response.status_code == 500:
            raise StackError(f"Triton worker {path}: {response.json()['error']}")
        response.raise_for_status()
        return response.json()

    # -- Triton's own APIs ------------------------------------------------------------------------
    def statistics(self, model: str | None = None) -> dict[str, Any]:
        """/v2/models[/<model>]/stats (a restricted API: sent with the access token)."""
        path = f"/v2/models/{model}/stats" if model else "/v2/models/stats"
        response = requests.get(self.http_url + path, headers=self.auth_headers, timeout=10)
        response.raise_for_status()
        return response.json()

    def unload_model(self, model: str) -> None:
        """Unload ``model``: it stops being ready, Triton and the other models keep serving.

        PyTriton cannot load it back in the same process; ``restart()`` serves it again.
        """
        self._control("POST", "/unload", {"model": model})

    def infer(self, model: str, inputs: np.ndarray) -> np.ndarray:
        """Logits for ``inputs`` (N, 1, 8, 8) through Triton's HTTP API (tritonclient); raises its error."""
        import tritonclient.http as httpclient

        batch = np.ascontiguousarray(inputs, dtype=np.float32)
        request = httpclient.InferInput(INPUT_NAME, list(batch.shape), "FP32")
        request.set_data_from_numpy(batch)
        client = httpclient.InferenceServerClient(self.http_address, network_timeout=60)
        try:
            result = client.infer(model, [request], outputs=[httpclient.InferRequestedOutput(OUTPUT_NAME)])
        finally:
            client.close()
        return result.as_numpy(OUTPUT_NAME)

    def model_ready(self, model: str) -> bool:
        return requests.get(f"{self.http_url}/v2/models/{model}/ready", timeout=5).status_code == 200


def _remove_shared_memory(worker_pid: int | None) -> None:
    """Delete the Python-backend shared-memory regions a killed worker left in /dev/shm."""
    if worker_pid is None:
        return
    # PyTriton names them pytrtion<pid>-<hex> (sic) after the process that called bind().
    for region in Path("/dev/shm").glob(f"pytrtion{worker_pid}-*"):
        region.unlink(missing_ok=True)


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # The Python-backend stub links the system libpython; without the interpreter's LIBDIR on the
    # library path the models fail to load.
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HARNESS_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env
