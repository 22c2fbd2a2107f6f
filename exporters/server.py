"""The /metrics HTTP(S) server, with the web-config file Prometheus exporters share.

web-config (exporter-toolkit format)::

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: ca.crt
      min_version: TLS12
    http_server_config:
      headers: {X-Frame-Options: deny}
    basic_auth_users:
      prometheus: $2y$10$...   # bcrypt hash

Keys triton-slo cannot honour (cipher_suites, curve_preferences, ...) are an error, not ignored.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from prometheus_client.exposition import choose_encoder
from triton_slo.errors import UserError
from triton_slo.exporters.exporter import Exporter
from triton_slo.exporters.render import OPENMETRICS_TYPE, PLAIN_TYPE

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3,
}
_TLS_KEYS = ("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version")
# A real bcrypt hash to check unknown users against, so a wrong user costs as long as a wrong password.
_DUMMY_HASH = b"$2b$10$CwTycUXWue0Thq9StjUM0uJ8DkEe4qOEgVbU0EHqdZKmO1FcgLbv."


class WebConfig:
    def __init__(self, ssl_context: ssl.SSLContext | None, users: dict[str, bytes], headers: dict[str, str]) -> None:
        self.ssl_context = ssl_context
        self.users = users
        self.headers = headers
        self._verified: set[bytes] = set()
        self._lock = threading.Lock()

    def authorized(self, header: str | None) -> bool:
        """HTTP basic auth against the bcrypt hashes; successful checks are cached (bcrypt is slow
        on purpose, Prometheus scrapes every few seconds)."""
        if not self.users:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed or b""))).digest()
        with self._lock:
            if hashed is not None and key in self._verified:
                return True
        ok = bcrypt.checkpw(password.encode(), hashed or _DUMMY_HASH) and hashed is not None
        if ok:
            with self._lock:
                self._verified.add(key)
        return ok


def load_web_config(path: Path | None) -> WebConfig:
    if path is None:
        return WebConfig(None, {}, {})
    where = f"--web-config {path}"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{where}: cannot read: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping at the top level")
    unknown = set(data) - {"tls_server_config", "http_server_config", "basic_auth_users"}
    if unknown:
        raise UserError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    base = path.parent
    context = _tls_context(data.get("tls_server_config"), base, where)
    users: dict[str, bytes] = {}
    for user, hashed in (data.get("basic_auth_users") or {}).items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise UserError(f"{where}: basic_auth_users.{user}: expected a bcrypt hash ($2y$...)")
        users[str(user)] = hashed.encode()
    server = data.get("http_server_config") or {}
    if not isinstance(server, dict) or set(server) - {"headers", "http2"}:
        raise UserError(f"{where}: http_server_config: only headers (and http2) are supported")
    headers = {str(k): str(v) for k, v in (server.get("headers") or {}).items()}
    return WebConfig(context, users, headers)


def _tls_context(tls: Any, base: Path, where: str) -> ssl.SSLContext | None:
    if not tls:
        return None
    if not isinstance(tls, dict):
        raise UserError(f"{where}: tls_server_config: expected a mapping")
    unsupported = set(tls) - set(_TLS_KEYS)
    if unsupported:
        raise UserError(f"{where}: tls_server_config.{sorted(unsupported)[0]}: not supported by triton-slo export")
    if not tls.get("cert_file") or not tls.get("key_file"):
        raise UserError(f"{where}: tls_server_config: cert_file and key_file are both required")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(base / tls["cert_file"], base / tls["key_file"])
    except (OSError, ssl.SSLError) as exc:
        raise UserError(f"{where}: tls_server_config: cannot load cert_file/key_file: {exc}") from None
    for key in ("min_version", "max_version"):
        if key in tls:
            if tls[key] not in _TLS_VERSIONS:
                raise UserError(f"{where}: tls_server_config.{key}: one of {', '.join(_TLS_VERSIONS)}")
            setattr(context, "minimum_version" if key == "min_version" else "maximum_version", _TLS_VERSIONS[tls[key]])
    auth = tls.get("client_auth_type", "NoClientCert")
    if auth not in _CLIENT_AUTH:
        raise UserError(f"{where}: tls_server_config.client_auth_type: one of {', '.join(_CLIENT_AUTH)}")
    context.verify_mode = _CLIENT_AUTH[auth]
    if tls.get("client_ca_file"):
        try:
            context.load_verify_locations(base / tls["client_ca_file"])
        except (OSError, ssl.SSLError) as exc:
            raise UserError(f"{where}: tls_server_config.client_ca_file: {exc}") from None
    elif auth in ("RequireAndVerifyClientCert", "VerifyClientCertIfGiven"):
        raise UserError(f"{where}: tls_server_config: client_auth_type {auth} needs client_ca_file")
    return context


_LANDING = b"""<!doctype html><title>triton-slo exporter</title>
<h1>triton-slo exporter</h1><p><a href="/metrics">/metrics</a></p>
"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # a client that stops talking does not hold a thread forever
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                return  # a failed handshake (no client cert, plain HTTP on TLS) ends the connection
        super().handle()

    def do_GET(self) -> None:  # noqa: N802
        web = self.server.web
        if not web.authorized(self.headers.get("Authorization")):
            self._send(401, b"Unauthorized\n", "text/plain; charset=utf-8",
                       {"WWW-Authenticate": 'Basic realm="triton-slo"'})
            return
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            openmetrics = choose_encoder(self.headers.get("Accept", ""))[1].startswith("application/openmetrics")
            gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
            try:
                scrape_timeout = float(self.headers.get("X-Prometheus-Scrape-Timeout-Seconds", "") or 0)
            except ValueError:
                scrape_timeout = 0.0
            body = self.server.exporter.scrape(openmetrics, gzipped, scrape_timeout or None)
            extra = {"Content-Encoding": "gzip"} if gzipped else {}
            self._send(200, body, OPENMETRICS_TYPE if openmetrics else PLAIN_TYPE, extra)
        elif path == "/":
            self._send(200, _LANDING, "text/html; charset=utf-8")
        else:
            self._send(404, b"Not found: try /metrics\n", "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {**self.server.web.headers, **(extra or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops SYNs of concurrent scrapers: 1 s retransmit stalls
    exporter: Exporter
    web: WebConfig


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """``MetricsServer(exporter, host, port, web).start()``; ``.url`` once started; ``.stop()``."""

    def __init__(self, exporter: Exporter, host: str, port: int, web: WebConfig) -> None:
        self.exporter = exporter
        self.web = web
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        server_class = _Server6 if ":" in self._host else _Server
        try:
            server = server_class((self._host, self._port), _Handler)
        except OSError as exc:
            raise UserError(f"--listen: cannot listen on {self._host or '*'}:{self._port}: {exc.strerror}") from None
        server.exporter = self.exporter
        server.web = self.web
        if self.web.ssl_context is not None:
            # Handshake in the request's thread, not in accept(): a slow client cannot stall the rest.
            server.socket = self.web.ssl_context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.web.ssl_context is not None else "http"
        host = self._host or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}/metrics"

    def serve_forever(self) -> None:
        assert self._thread is not None
        self._thread.join()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
