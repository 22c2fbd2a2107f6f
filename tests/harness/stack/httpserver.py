"""A small threaded HTTP server on a free loopback port, run in a background thread."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.stack.ports import LOOPBACK


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class BackgroundHTTPServer:
    """Serves ``handler_class`` on 127.0.0.1:<free port> until ``stop()``; a context manager."""

    def __init__(self, handler_class: type[BaseHTTPRequestHandler], name: str, port: int = 0) -> None:
        self._handler_class = handler_class
        self._name = name
        self._requested_port = port  # 0: any free port
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._server is not None:
            return
        server = _QuietServer((LOOPBACK, self._requested_port), self._handler_class)
        server.owner = self  # type: ignore[attr-defined]  # handlers reach their owner through it
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self._name} is not running")
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        """host:port, the form Prometheus scrape targets take."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that does not write an access log line to stderr for every request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    @property
    def owner(self):  # noqa: ANN201 - the BackgroundHTTPServer subclass that started this server
        return self.server.owner  # type: ignore[attr-defined]

    def read_json(self) -> object:
        """The request body parsed as JSON (ValueError when it is not)."""
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def send_json(self, status: int, payload: object) -> None:
        self.send_body(status, json.dumps(payload).encode(), "application/json")

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
