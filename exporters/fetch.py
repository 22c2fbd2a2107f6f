"""Fetch an upstream answer with a hard deadline and a size cap, on a plain socket.

The deadline covers the whole exchange (connect, TLS handshake, status line, headers, every body
read, gzip decoding), not each socket call: an upstream that trickles one byte a second, in its
headers or its body, must not hold a scrape, nor a worker thread past the deadline, nor the
process at shutdown. So the HTTP/1.1 exchange is done here on a raw socket, every ``recv`` under
what is left of the deadline (and at most ``_SLICE_S``, so that a ``cancel`` event stops it
promptly), instead of by http.client, whose status-line and header reads only have a per-call
socket timeout. Each request is a connection of its own (``Connection: close``): no connection
that an earlier scrape left stuck is ever reused.

The body is capped while it is read (``max_bytes`` on the wire and, for a gzip answer, decoded):
a 200 MB answer costs the cap, not 200 MB. Every failure is a FetchError with a short ``reason``
that becomes the ``reason`` label of ``triton_slo_scrape_errors_total``.
"""

from __future__ import annotations

import base64
import select
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

# Values of the `reason` label, in the order the README documents them.
REASONS = (
    "connect",  # refused, reset, DNS, closed before a response
    "timeout",  # the per-upstream deadline passed (fetching or decoding)
    "tls",  # handshake or certificate failure
    "http_status",  # an answer other than 200
    "protocol",  # not HTTP at all
    "too_large",  # body over max_body_bytes (on the wire or gzip-decoded)
    "truncated",  # body shorter than announced, or cut inside a line
    "encoding",  # not UTF-8, or a content encoding we cannot decode
    "unparseable",  # a body with lines but not one valid sample or metadata line; JSON of no use
    "api",  # the Triton HTTP API answered with an error
)

ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024  # status line and headers together
_READ_SIZE = 1 << 16
_SLICE_S = 0.25  # the longest a single recv waits: how soon a cancel is seen


class FetchError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def check_deadline(deadline: float | None, what: str = "decoding") -> None:
    """Raise TimeoutError once ``deadline`` (time.monotonic()) has passed: decoders call it in
    their loops so that the per-upstream deadline covers decoding too."""
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError(f"{what} past the deadline")


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names; repeated ones joined by ","
    body: bytes = b""


def fetch(
    url: str,
    deadline: float,
    max_bytes: int = DEFAULT_MAX_BYTES,
    *,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    cancel: threading.Event | None = None,
    read_error_body: bool = True,
) -> Response:
    """One HTTP/1.1 exchange, finished (or given up with FetchError) by ``deadline``.

    The body of any status is read (an error answer's only up to 64 kB, for its message, or not at
    all with ``read_error_body=False``); the caller decides what a status means.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError("connect", f"unsupported URL scheme {parts.scheme!r}")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request_headers = {
        "Host": parts.netloc.rsplit("@", 1)[-1],
        "User-Agent": "triton-slo-exporter",
        "Accept": ACCEPT,
        "Accept-Encoding": "identity",
        "Connection": "close",
        **(headers or {}),
    }
    if parts.username is not None and not any(k.lower() == "authorization" for k in request_headers):
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        request_headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
    if method != "GET" or body:
        request_headers["Content-Length"] = str(len(body))
    request = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in request_headers.items()) + "\r\n"
    sock = None
    try:
        sock = _connect(host, port, deadline, cancel)
        if parts.scheme == "https":
            sock = _tls(sock, host, deadline, cancel, ssl_context or ssl.create_default_context())
        _settimeout(sock, deadline, cancel)
        sock.sendall(request.encode("latin-1") + body)
        reader = _Reader(sock, deadline, cancel)
        status, reason, response_headers = reader.head()
        if status != 200 and not read_error_body:
            return Response(status, reason, response_headers)
        limit = max_bytes if status == 200 else min(max_bytes, 64 * 1024)
        data = reader.body(method, status, response_headers, limit, cut_ok=status != 200)
        return Response(status, reason, response_headers, _decode_content(data, response_headers, limit, deadline))
    except FetchError:
        raise
    except TimeoutError:  # socket.timeout is TimeoutError
        raise FetchError("timeout", "no complete answer before the deadline") from None
    except ssl.SSLError as exc:
        raise FetchError("tls", str(exc)) from None
    except UnicodeError as exc:
        raise FetchError("connect", f"bad host name ({exc})") from None
    except OSError as exc:
        raise FetchError("connect", str(exc) or type(exc).__name__) from None
    finally:
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def fetch_text(
    url: str,
    timeout: float,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    *,
    deadline: float | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """The body of ``GET url`` as text, or FetchError; never waits longer than ``timeout`` (or
    past ``deadline``, when given)."""
    if deadline is None:
        deadline = time.monotonic() + timeout
    response = fetch(url, deadline, max_bytes, headers=headers, ssl_context=ssl_context, cancel=cancel,
                     read_error_body=False)
    if response.status != 200:
        raise FetchError("http_status", f"HTTP {response.status} {response.reason}".strip())
    data = response.body
    if data and not data.endswith(b"\n"):
        # The text format ends every line with \n; a body without one was cut in the middle of a line.
        raise FetchError("truncated", "body does not end with a newline (cut inside a line)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FetchError("encoding", f"body is not UTF-8 (byte {exc.start})") from None


# --- the exchange --------------------------------------------------------------------------------
def _remaining(deadline: float, cancel: threading.Event | None) -> float:
    if cancel is not None and cancel.is_set():
        raise FetchError("timeout", "cancelled (the exporter is shutting down)")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    return remaining


def _settimeout(sock: socket.socket, deadline: float, cancel: threading.Event | None) -> None:
    remaining = _remaining(deadline, cancel)
    sock.settimeout(min(remaining, _SLICE_S) if cancel is not None else remaining)


def _connect(host: str, port: int, deadline: float, cancel: threading.Event | None) -> socket.socket:
    remaining = _remaining(deadline, cancel)
    sock = socket.create_connection((host, port), timeout=remaining)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _tls(sock: socket.socket, host: str, deadline: float, cancel: threading.Event | None,
         context: ssl.SSLContext) -> ssl.SSLSocket:
    """The TLS handshake, non-blocking, so that a server that trickles it is bounded too."""
    try:
        tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    except BaseException:
        sock.close()
        raise
    tls.setblocking(False)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            wait = ([tls], [])
        except ssl.SSLWantWriteError:
            wait = ([], [tls])
        except BaseException:
            tls.close()
            raise
        remaining = _remaining(deadline, cancel)
        readable, writable, _ = select.select(*wait, [], min(remaining, _SLICE_S))
        if not readable and not writable and time.monotonic() >= deadline:
            tls.close()
            raise TimeoutError
    tls.setblocking(True)
    return tls


class _Reader:
    """Buffered reads from the socket, each bounded by the deadline."""

    def __init__(self, sock: socket.socket, deadline: float, cancel: threading.Event | None) -> None:
        self._sock = sock
        self._deadline = deadline
        self._cancel = cancel
        self._buffer = bytearray()
        self._eof = False

    def _fill(self) -> bool:
        """Read once more into the buffer; False at the end of the stream."""
        while not self._eof:
            _settimeout(self._sock, self._deadline, self._cancel)
            try:
                data = self._sock.recv(_READ_SIZE)
            except TimeoutError:
                continue  # a slice ended: check the deadline and the cancel event again
            if not data:
                self._eof = True
                break
            self._buffer += data
            return True
        return False

    def head(self) -> tuple[int, str, dict[str, str]]:
        searched = 0
        while True:
            end = self._buffer.find(b"\r\n\r\n", max(0, searched - 3))
            if end > MAX_HEADER_BYTES:
                raise FetchError("protocol", f"status line and headers over {MAX_HEADER_BYTES} bytes")
            if end >= 0:
                head, rest = bytes(self._buffer[:end]), self._buffer[end + 4:]
                break
            searched = len(self._buffer)
            if searched > MAX_HEADER_BYTES:
                raise FetchError("protocol", f"status line and headers over {MAX_HEADER_BYTES} bytes")
            if not self._fill():
                if not self._buffer:
                    raise FetchError("connect", "closed the connection without an answer")
                if not self._buffer.startswith(b"HTTP/"):
                    raise FetchError("protocol", "not an HTTP answer")
                raise FetchError("truncated", "connection closed inside the headers")
            if len(self._buffer) >= 5 and not self._buffer.startswith(b"HTTP/"):
                raise FetchError("protocol", "not an HTTP answer")
        self._buffer = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/1.") or not (
                len(status_line[1]) == 3 and status_line[1].isdigit()):
            raise FetchError("protocol", f"not an HTTP status line: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise FetchError("protocol", f"not an HTTP header line: {line[:80]!r}")
            key = name.lower()
            headers[key] = f"{headers[key]},{value.strip()}" if key in headers else value.strip()
        return int(status_line[1]), status_line[2].strip() if len(status_line) > 2 else "", headers

    def body(self, method: str, status: int, headers: dict[str, str], limit: int, cut_ok: bool) -> bytes:
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._chunked(limit, cut_ok)
        announced = headers.get("content-length")
        if announced is not None:
            announced = announced.split(",")[0].strip()
            if not announced.isdigit():
                raise FetchError("protocol", f"bad Content-Length {announced[:40]!r}")
            length = int(announced)
            if length > limit:
                if cut_ok:
                    return self._exactly(limit, cut_ok=True)
                raise FetchError("too_large", f"Content-Length {length} is over the {limit}-byte limit")
            return self._exactly(length, cut_ok)
        return self._to_close(limit, cut_ok)

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _exactly(self, length: int, cut_ok: bool) -> bytes:
        while len(self._buffer) < length:
            if not self._fill():
                if cut_ok:
                    break
                raise FetchError("truncated", f"connection closed {length - len(self._buffer)} bytes "
                                              "before the announced end")
        return self._take(length)

    def _to_close(self, limit: int, cut_ok: bool) -> bytes:
        while self._fill():
            if len(self._buffer) > limit:
                if cut_ok:
                    break
                raise FetchError("too_large", f"body is over the {limit}-byte limit")
        return self._take(limit)

    def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = self._take(end)
                del self._buffer[:2]
                return line
            if len(self._buffer) > 1024:
                raise FetchError("protocol", "chunk size line over 1024 bytes")
            if not self._fill():
                raise FetchError("truncated", "connection closed inside a chunked body")

    def _chunked(self, limit: int, cut_ok: bool) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self._line().split(b";", 1)[0].strip()
            try:
                chunk = int(line, 16)
            except ValueError:
                raise FetchError("protocol", f"bad chunk size {line[:40]!r}") from None
            if chunk < 0:
                raise FetchError("protocol", "negative chunk size")
            if chunk == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            if size + chunk > limit:
                if cut_ok:
                    return b"".join(parts)
                raise FetchError("too_large", f"body is over the {limit}-byte limit")
            try:
                parts.append(self._exactly(chunk, cut_ok=False))
            except FetchError as exc:
                raise FetchError("truncated", "connection closed inside a chunk") from exc
            size += chunk
            if self._line():
                raise FetchError("protocol", "chunk not followed by CRLF")


def _decode_content(data: bytes, headers: dict[str, str], limit: int, deadline: float) -> bytes:
    """The body without its Content-Encoding (gzip), the decoded size capped at ``limit`` too."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise FetchError("encoding", f"unsupported Content-Encoding {encoding[:40]!r}")
    decoder = zlib.decompressobj(47 if encoding != "deflate" else zlib.MAX_WBITS)  # 47: gzip or zlib header
    out: list[bytes] = []
    size = 0
    pending = data
    try:
        while True:
            chunk = decoder.decompress(pending, limit - size + 1)
            size += len(chunk)
            if size > limit:
                raise FetchError("too_large", f"gzip-decoded body is over the {limit}-byte limit")
            out.append(chunk)
            pending = decoder.unconsumed_tail
            if decoder.eof or (not pending and not chunk):
                break
            if time.monotonic() > deadline:
                raise TimeoutError
    except zlib.error as exc:
        raise FetchError("encoding", f"bad {encoding} body ({exc})") from None
    if not decoder.eof:
        raise FetchError("truncated", f"{encoding} body ends before its end marker")
    return b"".join(out)
