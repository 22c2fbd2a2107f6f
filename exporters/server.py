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

Keys triton-slo cannot honour (cipher_suites, curve_preferences, ...) are an error, not ignored;
so is anything malformed (a bad hash, a header value with a line break), at start, not at the first
request.

Paths: /metrics (a GET scrapes the upstreams; HEAD answers the headers without scraping), /-/healthy
and /-/ready (Kubernetes probes: answered from memory, no basic auth), / (a landing page).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import re
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from prometheus_client.exposition import choose_encoder
from triton_slo.errors import UserError
from triton_slo.exporters.config import log
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
        on purpose, Prometheus scrapes every few seconds). Never raises: a password bcrypt cannot
        take (over 72 bytes) or a header that is not basic auth is a wrong password."""
        if not self.users:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        secret = password.encode()
        if len(secret) > BCRYPT_MAX_PASSWORD_BYTES:
            return False  # no bcrypt hash can match it (bcrypt 4.1+ raises; older ones truncate)
        hashed = self.users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), secret, hashed or b""))).digest()
        with self._lock:
            if hashed is not None and key in self._verified:
                return True
        try:
            ok = bcrypt.checkpw(secret, hashed or _DUMMY_HASH) and hashed is not None
        except ValueError:  # a hash refused at start cannot get here; anything else is a no
            return False
        if ok:
            with self._lock:
                self._verified.add(key)
        return ok


BCRYPT_MAX_PASSWORD_BYTES = 72
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
# Headers the server writes itself: one from the web config would break the framing or the content.
_OWN_HEADERS = {"content-length", "content-type", "content-encoding", "transfer-encoding", "connection",
                "www-authenticate", "date", "server"}


def load_web_config(path: Path | None) -> WebConfig:
    """The web-config file, checked whole at start: every problem is one UserError line naming
    the file and the key (exit 2), never a failure at the first request."""
    if path is None:
        return WebConfig(None, {}, {})
    where = f"--web-config {path}"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{where}: cannot read: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping at the top level")
    unknown = set(map(str, data)) - {"tls_server_config", "http_server_config", "basic_auth_users"}
    if unknown:
        raise UserError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    base = path.parent
    context = _tls_context(data.get("tls_server_config"), base, where)
    users: dict[str, bytes] = {}
    basic = data.get("basic_auth_users")
    if basic is not None and not isinstance(basic, dict):
        raise UserError(f"{where}: basic_auth_users: expected a mapping of user name to bcrypt hash, "
                        f"got {type(basic).__name__}")
    for user, hashed in (basic or {}).items():
        if not isinstance(hashed, str) or not _BCRYPT_HASH.fullmatch(hashed.strip()):
            raise UserError(f"{where}: basic_auth_users.{user}: expected a bcrypt hash ($2y$10$ and 53 "
                            "characters, e.g. from htpasswd -nBC 10 USER)")
        users[str(user)] = hashed.strip().encode()
    server = data.get("http_server_config")
    if server is None:
        server = {}
    if not isinstance(server, dict):
        raise UserError(f"{where}: http_server_config: expected a mapping, got {type(server).__name__}")
    if set(map(str, server)) - {"headers", "http2"}:
        key = sorted(set(map(str, server)) - {"headers", "http2"})[0]
        raise UserError(f"{where}: http_server_config.{key}: not supported (only headers and http2)")
    return WebConfig(context, users, _headers(server.get("headers"), where))


def _headers(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: http_server_config.headers: expected a mapping of header name to value, "
                        f"got {type(raw).__name__}")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        at = f"{where}: http_server_config.headers.{name}"
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise UserError(f"{at}: not a valid header name")
        if name.lower() in _OWN_HEADERS:
            raise UserError(f"{at}: set by the exporter itself, cannot be configured")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise UserError(f"{at}: expected a string value, got {type(value).__name__}")
        text = str(value)
        if any(c in text for c in "\r\n\0") or any(ord(c) < 32 and c != "\t" for c in text):
            raise UserError(f"{at}: the value holds a line break or control character")
        headers[name] = text
    return headers


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
# Liveness and readiness for Kubernetes probes: they answer from memory, never fetch an upstream,
# and need no basic auth (they say nothing but OK).
HEALTH_PATHS = {"/-/healthy": b"Healthy\n", "/-/ready": b"Ready\n"}
_TEXT = "text/plain; charset=utf-8"


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header accepts gzip: ``gzip;q=0`` (or ``*;q=0``) says no."""
    gzip_q = star_q = None
    for part in header.split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, text = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(text)
                except ValueError:
                    q = 0.0
                q = q if math.isfinite(q) else 0.0
        coding = coding.lower()
        if coding in ("gzip", "x-gzip"):
            gzip_q = q if gzip_q is None else max(gzip_q, q)
        elif coding == "*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return star_q is not None and star_q > 0


def scrape_timeout(header: str | None) -> float | None:
    """Prometheus' X-Prometheus-Scrape-Timeout-Seconds, when it is a positive number."""
    try:
        value = float(header or "")
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


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
        try:
            super().handle()
        except (ConnectionError, TimeoutError, ssl.SSLError):
            pass  # the client went away: nothing to answer, nothing to log

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path in HEALTH_PATHS:
            self._send(200, HEALTH_PATHS[path], _TEXT)
            return
        web = self.server.web
        if not web.authorized(self.headers.get("Authorization")):
            self._send(401, b"Unauthorized\n", _TEXT, {"WWW-Authenticate": 'Basic realm="triton-slo"'})
            return
        if path == "/metrics":
            self._metrics()
        elif path == "/":
            self._send(200, _LANDING, "text/html; charset=utf-8")
        else:
            self._send(404, b"Not found: try /metrics\n", _TEXT)

    def _metrics(self) -> None:
        openmetrics = choose_encoder(self.headers.get("Accept", ""))[1].startswith("application/openmetrics")
        content_type = OPENMETRICS_TYPE if openmetrics else PLAIN_TYPE
        if self.command == "HEAD":  # what a GET would be, without the scrape it would cost
            self._send(200, b"", content_type, length=False)
            return
        gzipped = accepts_gzip(self.headers.get("Accept-Encoding", ""))
        timeout = scrape_timeout(self.headers.get("X-Prometheus-Scrape-Timeout-Seconds"))
        try:
            body = self.server.exporter.scrape(openmetrics, gzipped, timeout)
        except Exception as exc:  # noqa: BLE001 - one line in the log and a 500, not a dropped connection
            log(logging.ERROR, f"scrape failed: {type(exc).__name__}: {exc}")
            self._send(500, b"scrape failed, see the exporter's log\n", _TEXT)
            return
        self._send(200, body, content_type, {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"} if gzipped
                   else {"Vary": "Accept-Encoding"})

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None,
              length: bool = True) -> None:
        self.send_response(status)
        for name, value in {**self.server.web.headers, **(extra or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a scrape stuck on an upstream never holds the process at exit
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops SYNs of concurrent scrapers: 1 s retransmit stalls
    exporter: Exporter
    web: WebConfig

    def handle_error(self, request: object, client_address: object) -> None:
        """One log line (debug: a client that hangs up is normal), never socketserver's traceback."""
        exc = sys.exc_info()[1]
        level = logging.DEBUG if isinstance(exc, (OSError, ssl.SSLError)) else logging.ERROR
        log(level, f"request from {client_address}: {type(exc).__name__}: {exc}")


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
        self._thread = threading.Thread(target=server.serve_forever, args=(0.2,), name="metrics-server",
                                        daemon=True)
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

    def stop(self, timeout: float = 1.0) -> None:
        """Stop accepting and close the socket within ``timeout``; scrapes still in flight (on
        daemon threads, perhaps waiting on an upstream that hangs) are not waited for."""
        server, self._server = self._server, None
        if server is not None:
            stopper = threading.Thread(target=server.shutdown, name="metrics-server-stop", daemon=True)
            stopper.start()
            stopper.join(timeout)
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
