"""Helpers for the exporter tests: an upstream that misbehaves on purpose, and scrape parsing."""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness.stack.httpserver import BackgroundHTTPServer, QuietHandler
from prometheus_client.parser import text_string_to_metric_families

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


class _FaultHandler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802
        owner: FaultyUpstream = self.owner
        path = self.path.split("?", 1)[0]
        owner.requests[path] += 1
        body = owner.body
        if path == "/ok":
            self.send_body(200, body, "text/plain; version=0.0.4")
        elif path == "/slow":  # answers, after a while: for coalescing
            owner.stop.wait(0.5)
            self.send_body(200, body, "text/plain; version=0.0.4")
        elif path == "/hang":
            owner.stop.wait(30)
        elif path == "/drip":  # headers at once, then a byte every 0.2 s: each read is quick
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for byte in body[:100]:
                if owner.stop.wait(0.2):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        elif path == "/garbage":
            self.send_body(200, b"<html><body>502 Bad Gateway</body></html>\n" * 20, "text/html")
        elif path == "/truncated":  # announces the whole body, sends a third, closes
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 3])
            self.close_connection = True
        elif path == "/cut":  # no Content-Length, connection close, cut inside a line
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2 + 7])
            self.close_connection = True
        elif path in ("/huge", "/huge-chunked"):  # 50 MB of valid-looking lines
            line = b'DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-x"} 40\n'
            block = line * ((1 << 20) // len(line))
            self.send_response(200)
            if path == "/huge":
                self.send_header("Content-Length", str(50 * 1024 * 1024))
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(50 * 1024 * 1024 // len(block) + 1):
                    self.wfile.write(block)
            except OSError:
                pass
            self.close_connection = True
        elif path == "/status500":
            self.send_body(500, b"internal error\n", "text/plain")
        elif path == "/notutf8":
            self.send_body(200, b"nv_x{model=\"\xff\xfe\"} 1\n", "text/plain")
        elif path == "/badlines":
            bad = b"this is not a metric\nnv_inference_count{model=\"m\" 1\n"
            self.send_body(200, bad + body + b"nv_broken{ 3\n", "text/plain; version=0.0.4")
        else:
            self.send_body(404, b"no such fault\n", "text/plain")


class FaultyUpstream(BackgroundHTTPServer):
    """Serves ``body`` normally at /ok, and misbehaves at the other paths (see the handler)."""

    def __init__(self, body: bytes) -> None:
        super().__init__(_FaultHandler, "faulty-upstream")
        self.body = body
        self.requests: Counter[str] = Counter()
        self.stop = threading.Event()

    def __enter__(self) -> FaultyUpstream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        super().stop()


def exporter_args(**overrides: Any) -> argparse.Namespace:
    values: dict[str, Any] = {
        "triton": "http://127.0.0.1:1", "triton_metrics": None, "dcgm": None, "listen": "127.0.0.1:0",
        "config": None, "web_config": None, "timeout": None, "triton_token_file": None, "triton_token_env": None,
        "golden": None, "no_passthrough": False, "no_probes": True,
    }
    values.update(overrides)
    return argparse.Namespace(**values)


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by (name, sorted labels), read by prometheus_client."""
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(body: str, name: str, **labels: str) -> float | None:
    key = (name, tuple(sorted(labels.items())))
    return samples(body).get(key)


def timed(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = func(*args, **kwargs)
    return result, time.monotonic() - started


class TcpForwarder:
    """A fixed loopback port that forwards each connection to wherever ``target()`` says now.

    A restarted TritonServer comes back on new ports; the exporter keeps its URLs, as it would on a
    real host where Triton restarts on the same port.
    """

    def __init__(self, target: Any) -> None:
        import socket

        self._target = target
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tcp-forwarder", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        import socket

        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            host, port = self._target().rsplit(":", 1)
            try:
                upstream = socket.create_connection((host, int(port)), timeout=5)
            except OSError:
                client.close()  # like a refused connection: the server is down
                continue
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: Any, dst: Any) -> None:
        import socket

        try:
            src.settimeout(60)
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
