"""A small client for the Prometheus HTTP query API (Prometheus, Thanos, Mimir, VictoriaMetrics).

Shared by `status`, `canary` and `snapshot`: they speak only /api/v1/query and
/api/v1/query_range, so they work against any engine that implements that API.

Three promises, kept here for every caller:

- ``--query-timeout`` bounds the whole query: connecting, the status line, the headers and the
  body, over every try. requests' own timeout bounds each socket read only (a server sending a
  byte every few seconds would never trip it), so each query runs under a deadline whose
  watchdog shuts down the sockets it uses when the time is up.
- Transient failures (a refused or reset connection, HTTP 502/503/504) are tried again, at most
  ``TRIES`` times with the pauses of ``BACKOFF_S``, within the same deadline.
- Every answer is checked for the shape the API documents before anything reads it; an answer
  of another shape is bad input: one line naming the query (a UserError, exit 2), never a
  traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from triton_slo.errors import UserError
from urllib3 import ProxyManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

TRIES = 3  # of a query whose failure may pass (a reset or refused connection, HTTP 502/503/504)
BACKOFF_S = (0.2, 0.5)  # pause before the second and the third try
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_BODY_BYTES = 256 * 1024 * 1024
MAX_QUERY_TIMEOUT_S = 86400.0


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]


_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/@:]*):[^\s/@]*@")


def redact_url(text: str) -> str:
    """``text`` with the password of every URL in it masked (``https://user:***@host``): what every
    message, log line and report shows of a ``--prometheus`` URL that carries its credentials."""
    return _URL_PASSWORD.sub(r"\1:***@", str(text))


def query_timeout(text: str) -> float:
    """``--query-timeout``: seconds, a finite number above 0 (argparse reports anything else)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < seconds <= MAX_QUERY_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds above 0 and at most {MAX_QUERY_TIMEOUT_S:g}")
    return seconds


def add_prometheus_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """The flags every command that queries Prometheus shares."""
    group = parser.add_argument_group("Prometheus query API")
    group.add_argument("--prometheus", required=required, metavar="URL",
                       help="base URL of a Prometheus-compatible query API, e.g. http://localhost:9090 "
                            "(Thanos Query, Mimir's /prometheus prefix and VictoriaMetrics work too)")
    group.add_argument("--basic-auth-user", metavar="USER", help="basic auth user")
    group.add_argument("--basic-auth-password-file", metavar="FILE", help="file holding the basic auth password")
    group.add_argument("--bearer-token-file", metavar="FILE",
                       help="file holding a bearer token (or set TRITON_SLO_BEARER_TOKEN)")
    group.add_argument("--ca-file", metavar="FILE", help="CA bundle to verify the server's certificate")
    group.add_argument("--insecure-skip-verify", action="store_true", help="do not verify TLS certificates")
    group.add_argument("--header", action="append", default=[], metavar="NAME=VALUE",
                       help="extra HTTP header on every query (repeatable), e.g. X-Scope-OrgID=tenant-1 for Mimir")
    group.add_argument("--query-timeout", type=query_timeout, default=30.0, metavar="SECONDS",
                       help="time limit of each query, all of it (connecting, headers, body, retries; default 30)")


def _read_secret(path: str, what: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"{what} {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} {path}: not UTF-8 text (byte {exc.start})") from None


def _header_safe(text: str, what: str) -> str:
    """A value that can go into an HTTP header as it is (latin-1, no line breaks)."""
    if any(ch in text for ch in "\r\n\0"):
        raise UserError(f"{what}: must not contain line breaks or NUL")
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        raise UserError(f"{what}: HTTP headers take latin-1 text only") from None
    return text


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# --- the deadline of a query ------------------------------------------------------------------


class _Deadline:
    """The end of one query; its watchdog shuts down every socket the query uses when it passes.

    A shut-down socket makes the blocked read return at once, whatever phase the request is in
    (TLS, status line, headers, body), so nothing waits for a server that trickles its answer.
    """

    _current = threading.local()

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        _Deadline._current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _Deadline._current.deadline = None

    def left(self) -> float:
        return self.end - time.monotonic()

    def over(self) -> bool:
        return self.expired or self.left() <= 0.01

    @classmethod
    def watch_current(cls, sock: socket.socket | None) -> None:
        deadline = getattr(cls._current, "deadline", None)
        if deadline is not None and sock is not None:
            deadline.watch(sock)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            expired = self.expired
            if not expired:
                self._sockets.append(sock)
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        # The descriptor itself, under any TLS layer: the reader (another thread) sees EOF.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass


class _Watched:
    """urllib3 connections whose sockets the current query's deadline watches."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        _Deadline.watch_current(sock)
        return sock

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _Deadline.watch_current(getattr(self, "sock", None))  # a kept-alive connection too
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter with connection pools of watched connections (direct and via a proxy)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, ProxyManager):  # not SOCKS, whose pools are its own
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


class _Transient(Exception):
    """A failure another try may not meet (the connection was refused or reset)."""


class _TimedOut(Exception):
    pass


# --- the shape of an answer -------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _labels(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where}: 'metric' is {_kind(value)}, expected an object of label names to strings")
    for name, text in value.items():
        if not isinstance(text, str):
            raise UserError(f"{where}: 'metric' has the label {_one_line(name, 40)!r} = {_one_line(repr(text), 40)}, "
                            "expected a string")
    return dict(value)


def _point(value: object, where: str, what: str) -> tuple[float, float]:
    """``[unix_seconds, "value"]``: the only form of a sample the API has."""
    if not isinstance(value, list) or len(value) != 2:
        raise UserError(f"{where}: {what} is {_kind(value)}, expected [timestamp, \"value\"]")
    stamp, text = value
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp):
        raise UserError(f"{where}: {what} has the timestamp {_one_line(repr(stamp), 40)}, expected Unix seconds")
    if not isinstance(text, str):
        raise UserError(f"{where}: {what} has the value {_one_line(repr(text), 40)}, expected a number as a string")
    try:
        number = float(text)
    except ValueError:
        raise UserError(f"{where}: {what} has the value {_one_line(repr(text), 40)}, which is not a number") from None
    return float(stamp), number


def _list(value: object, where: str, what: str) -> list:
    if not isinstance(value, list):
        raise UserError(f"{where}: {what} is {_kind(value)}, expected a list")
    return value


def _item(value: object, where: str, what: str) -> dict:
    if not isinstance(value, dict):
        raise UserError(f"{where}: {what} is {_kind(value)}, expected an object")
    return value


def _data(status: int, content: bytes, where: str) -> dict:
    """The ``data`` object of a successful answer; any other answer is one UserError."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        raise UserError(f"{where}: HTTP {status}, not a Prometheus API answer (not JSON)") from None
    if not isinstance(body, dict):
        raise UserError(f"{where}: HTTP {status}, not a Prometheus API answer ({_kind(body)}, expected an object)")
    state = body.get("status")
    if state == "error" or (state != "success" and status >= 400):
        kind, error = body.get("errorType"), body.get("error")
        reason = ": ".join(_one_line(x) for x in (kind, error) if isinstance(x, (str, int, float)) and str(x))
        raise UserError(f"{where} failed: {reason or f'HTTP {status}'}")
    if state != "success":
        raise UserError(f"{where}: HTTP {status}, not a Prometheus API answer (status {_one_line(repr(state), 40)})")
    return _item(body.get("data"), where, "'data'")


def samples_of(data: dict, where: str) -> list[Sample]:
    """An instant query's ``data``: a vector, or a scalar as one unlabelled sample."""
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return [Sample({}, _point(result, where, "the scalar")[1])]
    if kind != "vector":
        raise UserError(f"{where}: expected an instant vector, got {_one_line(kind, 40)}")
    samples = []
    for i, raw in enumerate(_list(result, where, "'result'")):
        item = _item(raw, where, f"result[{i}]")
        if "value" not in item and "histogram" in item:
            raise UserError(f"{where}: result[{i}] is a native histogram, expected a float sample")
        samples.append(Sample(_labels(item.get("metric"), where), _point(item.get("value"), where,
                                                                           f"result[{i}].value")[1]))
    return samples


def series_of(data: dict, where: str) -> list[Series]:
    """A range query's ``data``: a matrix."""
    kind, result = data.get("resultType"), data.get("result")
    if kind != "matrix":
        raise UserError(f"{where}: expected a range vector (matrix), got {_one_line(kind, 40)}")
    series = []
    for i, raw in enumerate(_list(result, where, "'result'")):
        item = _item(raw, where, f"result[{i}]")
        values = item.get("values", [] if "histograms" in item else None)
        points = [_point(p, where, f"result[{i}].values[{j}]")
                  for j, p in enumerate(_list(values, where, f"result[{i}].values"))]
        series.append(Series(_labels(item.get("metric"), where), points))
    return series


# --- the client -------------------------------------------------------------------------------


class PromAPI:
    """Instant and range queries with auth and TLS; errors become one-line UserErrors."""

    def __init__(
        self,
        url: str,
        *,
        basic_auth: tuple[str, str] | None = None,
        bearer_token: str = "",
        ca_file: str = "",
        verify: bool = True,
        timeout: float = 30.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise UserError(f"--prometheus {redact_url(url)!r}: expected an http:// or https:// URL")
        try:
            parts = urlsplit(url)
            _ = parts.port  # a bad port raises ValueError
        except ValueError as exc:
            raise UserError(f"--prometheus: not a URL: {_one_line(exc, 80)}") from None
        if not parts.hostname:
            raise UserError("--prometheus: the URL names no host")
        if any(ch.isspace() or ch == "\0" for ch in url):
            raise UserError("--prometheus: the URL contains blanks or line breaks")
        if not math.isfinite(timeout) or timeout <= 0:
            raise UserError(f"--query-timeout {timeout}: expected seconds above 0")
        if ca_file and not os.path.exists(ca_file):
            raise UserError(f"--ca-file {ca_file}: no such file or folder")
        if "@" in parts.netloc:  # user:password@ in the URL: sent as basic auth (flags win), never shown
            if not basic_auth:
                basic_auth = (unquote(parts.username or ""), unquote(parts.password or ""))
            url = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
        self.url = url.rstrip("/")  # what every message, report and snapshot shows: no credentials
        self.timeout = timeout
        self.session = requests.Session()
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, _Adapter())
        if basic_auth:
            user, password = basic_auth
            self.session.auth = (_header_safe(user, "--basic-auth-user"),
                                 _header_safe(password, "--basic-auth-password-file"))
        if bearer_token:
            token = _header_safe(bearer_token, "the bearer token")
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.verify = ca_file or verify
        for name, value in (headers or {}).items():
            if not name or not set(name) <= _TOKEN_CHARS:
                raise UserError(f"--header {name!r}: not an HTTP header name")
            self.session.headers[name] = _header_safe(value, f"--header {name}")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> PromAPI:
        basic_auth = None
        if args.basic_auth_user:
            password = ""
            if args.basic_auth_password_file:
                password = _read_secret(args.basic_auth_password_file, "--basic-auth-password-file")
            basic_auth = (args.basic_auth_user, password)
        token = os.environ.get("TRITON_SLO_BEARER_TOKEN", "")
        if args.bearer_token_file:
            token = _read_secret(args.bearer_token_file, "--bearer-token-file")
        headers = {}
        for text in getattr(args, "header", None) or []:
            name, sep, value = text.partition("=")
            if not sep or not name.strip():
                raise UserError(f"--header {text!r}: expected NAME=VALUE")
            headers[name.strip()] = value
        return cls(
            args.prometheus,
            headers=headers,
            basic_auth=basic_auth,
            bearer_token=token,
            ca_file=args.ca_file or "",
            verify=not args.insecure_skip_verify,
            timeout=args.query_timeout,
        )

    def _where(self, path: str, expr: str) -> str:
        """How an error names the query: the endpoint and the expression, on one line."""
        return f"{redact_url(self.url)}{path}: query {_one_line(repr(expr), 240)}"

    def _get(self, path: str, params: dict) -> dict:
        """The ``data`` of one query, tried again after a transient failure, all within the timeout."""
        endpoint = f"{self.url}{path}"
        where = self._where(path, params.get("query", ""))
        with _Deadline(self.timeout) as deadline:
            for attempt in range(1, TRIES + 1):
                last = attempt == TRIES
                pause = 0.0 if last else BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1]
                try:
                    status, content = self._fetch(endpoint, params, deadline, where)
                except _TimedOut:
                    break
                except _Transient as exc:
                    if last or deadline.left() <= pause:
                        tries = f" ({attempt} tries)" if attempt > 1 else ""
                        raise UserError(f"{where}: {exc}{tries}") from None
                else:
                    if status not in RETRY_STATUSES or last or deadline.left() <= pause:
                        return _data(status, content, where)
                time.sleep(pause)
        raise UserError(f"{where}: no answer within {self.timeout:g} s")

    def _fetch(self, endpoint: str, params: dict, deadline: _Deadline, where: str) -> tuple[int, bytes]:
        """One try: the HTTP status and the whole body, read before the deadline."""
        left = deadline.left()
        if left <= 0:
            raise _TimedOut
        try:
            with self.session.get(endpoint, params=params, timeout=left, stream=True) as response:
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    if deadline.over():
                        raise _TimedOut
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise UserError(f"{where}: the answer is larger than {MAX_BODY_BYTES >> 20} MiB")
                    chunks.append(chunk)
                if deadline.over():
                    raise _TimedOut
                return response.status_code, b"".join(chunks)
        except requests.exceptions.SSLError as exc:
            if deadline.over():
                raise _TimedOut from None
            raise UserError(f"{where}: TLS error: {exc.__class__.__name__}") from None
        except requests.exceptions.Timeout:
            raise _TimedOut from None
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            if deadline.over():
                raise _TimedOut from None
            raise _Transient(f"cannot connect ({exc.__class__.__name__})") from None
        except requests.exceptions.RequestException as exc:
            raise UserError(f"{where}: cannot send the request ({exc.__class__.__name__})") from None
        except (OSError, ValueError) as exc:  # a CA file that is not one, a URL requests cannot take
            if deadline.over():
                raise _TimedOut from None
            raise UserError(f"{where}: cannot send the request ({exc.__class__.__name__})") from None

    def query(self, expr: str, time: float | None = None) -> list[Sample]:
        """An instant vector (or scalar, as one unlabelled sample)."""
        params: dict = {"query": expr}
        if time is not None:
            params["time"] = f"{time:.3f}"
        return samples_of(self._get("/api/v1/query", params), self._where("/api/v1/query", expr))

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return series_of(self._get("/api/v1/query_range", params), self._where("/api/v1/query_range", expr))
