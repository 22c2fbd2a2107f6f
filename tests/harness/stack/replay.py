"""Serve recorded /metrics output (dcgm-exporter, Triton) over HTTP, byte for byte unchanged.

A route maps a URL path to a file; ``set`` switches the file behind a path while the server runs
(so a test can play scrape1 then scrape2), ``set_status`` makes a path answer an HTTP error (an
upstream that is down). The file is read at every request and sent as is.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from harness.stack.httpserver import BackgroundHTTPServer, QuietHandler

# What dcgm-exporter and Triton send for the Prometheus text format.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _ReplayHandler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - stdlib handler name
        owner: ReplayServer = self.owner
        path = self.path.split("?", 1)[0]
        file, status = owner._lookup(path)
        if file is None:
            self.send_body(404, f"no route for {path}\n".encode(), "text/plain; charset=utf-8")
        elif status != 200:
            self.send_body(status, f"replay: {path} set to answer {status}\n".encode(), "text/plain")
        else:
            try:
                body = file.read_bytes()
            except OSError as exc:
                self.send_body(500, f"replay: cannot read {file}: {exc}\n".encode(), "text/plain")
                return
            self.send_body(200, body, METRICS_CONTENT_TYPE)

    do_HEAD = do_GET


class ReplayServer(BackgroundHTTPServer):
    """``with ReplayServer({"/metrics": Path(".../dcgm_L4.prom")}) as replay: replay.url("/metrics")``."""

    def __init__(self, routes: Mapping[str, Path | str] | None = None) -> None:
        super().__init__(_ReplayHandler, "replay-server")
        self._lock = threading.Lock()
        self._routes: dict[str, Path] = {}
        self._status: dict[str, int] = {}
        self.requests: Counter[str] = Counter()  # GETs served per path, for tests of scraping
        for path, file in (routes or {}).items():
            self.set(path, file)

    def __enter__(self) -> ReplayServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        """The full URL of ``path`` on this server, e.g. http://127.0.0.1:40123/metrics."""
        return self.base_url + _normalise(path)

    def set(self, path: str, file: Path | str) -> None:
        """Serve ``file`` at ``path`` from the next request on (and answer 200 again)."""
        file = Path(file)
        if not file.is_file():
            raise FileNotFoundError(f"replay: {file} is not a file (route {path})")
        with self._lock:
            self._routes[_normalise(path)] = file
            self._status.pop(_normalise(path), None)

    def set_status(self, path: str, status: int) -> None:
        """Answer ``status`` (e.g. 503) at ``path`` instead of the file; 200 serves the file again."""
        with self._lock:
            self._status[_normalise(path)] = status

    def remove(self, path: str) -> None:
        """Stop serving ``path`` (404 from then on)."""
        with self._lock:
            self._routes.pop(_normalise(path), None)
            self._status.pop(_normalise(path), None)

    def _lookup(self, path: str) -> tuple[Path | None, int]:
        with self._lock:
            self.requests[path] += 1
            return self._routes.get(path), self._status.get(path, 200)


def _normalise(path: str) -> str:
    return path if path.startswith("/") else "/" + path
