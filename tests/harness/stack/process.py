"""Start a server binary, wait until it answers, and stop it with its whole process group.

Each process runs in its own session (so its process group holds every child it forks, e.g.
tritonserver's Python-backend stubs), writes stdout and stderr to a log file, and is registered
for stopping at interpreter exit in case a context manager never got to run its ``__exit__``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import requests

from harness.stack.ports import LOOPBACK


class StackError(RuntimeError):
    """A server of the stack failed to start, answer or stop; the message says which and why."""


_LIVE: set[ManagedProcess] = set()
_LIVE_LOCK = threading.Lock()


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class ManagedProcess:
    """One server process in its own process group, logging to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        if self.popen is not None and self.popen.poll() is None:
            raise StackError(f"{self.name} is already running (pid {self.popen.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc
        finally:
            log.close()
        with _LIVE_LOCK:
            _LIVE.add(self)
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def fail(self, what: str) -> StackError:
        """A StackError that says ``what`` and shows the tail of this process's log."""
        return StackError(f"{what}; its log ({self.log_path}):\n{self.log_tail()}")

    def wait_for_url(
        self,
        url: str,
        timeout: float,
        ready: Callable[[requests.Response], bool] = lambda r: r.status_code == 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Poll ``url`` until ``ready(response)``; raise a StackError with the log tail on timeout or exit."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            if not self.running():
                code = self.popen.returncode if self.popen else None
                raise self.fail(f"{self.name} exited with code {code} before {url} answered")
            try:
                response = requests.get(url, timeout=2, headers=dict(headers or {}))
                if ready(response):
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]!r}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            if time.monotonic() >= deadline:
                raise self.fail(f"{self.name} did not become ready in {timeout:g} s ({url}: {last})")
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` s; return the exit code."""
        popen = self.popen
        if popen is None:
            return None
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if popen.poll() is None:
            _signal_group(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(popen.pid, signal.SIGKILL)
                popen.wait(timeout=10)
        # Children that outlived the leader (e.g. a Python-backend stub) share its process group.
        _signal_group(popen.pid, signal.SIGKILL)
        return popen.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a crash, for restart tests)."""
        if self.popen is not None:
            _signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServedBinary:
    """What Prometheus and Alertmanager share: one process with a ready URL, a work folder that is
    removed on close when it was a temporary one, and use as a context manager.

    Subclasses set ``port``, ``log_path``, ``workdir``, ``_own_workdir``, ``startup_timeout`` and
    ``_process = None`` in ``__init__``, and call ``_launch`` from ``start``.
    """

    _process: ManagedProcess | None
    _own_workdir: bool
    workdir: Path
    port: int
    log_path: Path
    startup_timeout: float

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self):  # noqa: ANN201 - returns the subclass
        raise NotImplementedError

    def _launch(self, name: str, argv: list[str]) -> None:
        self._process = ManagedProcess(name, argv, self.log_path, cwd=self.workdir).start()
        try:
            self._process.wait_for_url(self.url + "/-/ready", self.startup_timeout)
        except BaseException:
            self._process.stop()
            raise

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def close(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def running(self) -> bool:
        return self._process is not None and self._process.running()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _stop_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for process in live:
        try:
            process.stop(timeout=5)
        except Exception:  # noqa: BLE001 - best effort at exit; nothing left to report to
            pass
