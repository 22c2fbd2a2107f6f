"""Fetch an upstream /metrics body with a hard deadline and a size cap.

The deadline covers the whole exchange (connect, headers, every read), not each socket call: an
upstream that trickles one byte a second must not hold a scrape. Every failure is a FetchError
with a short ``reason`` that becomes the ``reason`` label of ``triton_slo_scrape_errors_total``.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from urllib.parse import urlsplit

# Values of the `reason` label, in the order the README documents them.
REASONS = (
    "connect",  # refused, reset, DNS, closed before a response
    "timeout",  # the per-upstream deadline passed
    "tls",  # handshake or certificate failure
    "http_status",  # an answer other than 200
    "protocol",  # not HTTP at all
    "too_large",  # body over max_body_bytes
    "truncated",  # body shorter than announced, or cut inside a line
    "encoding",  # not UTF-8
    "unparseable",  # a body with lines but not one valid sample or metadata line
    "api",  # the Triton HTTP API answered with an error
)

ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"
_READ_SIZE = 1 << 16


class FetchError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def fetch_text(
    url: str,
    timeout: float,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> str:
    """The body of ``GET url`` as text, or FetchError; never waits longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl_context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": ACCEPT, "Accept-Encoding": "identity", **(headers or {})})
        sock = conn.sock  # kept: getresponse() drops conn.sock when the server will close
        response = conn.getresponse()
        if response.status != 200:
            raise FetchError("http_status", f"HTTP {response.status} {response.reason}".strip())
        announced = response.getheader("Content-Length")
        if announced and announced.isdigit() and int(announced) > max_bytes:
            raise FetchError("too_large", f"Content-Length {announced} is over the {max_bytes}-byte limit")
        body = _read_body(sock, response, deadline, max_bytes)
    except FetchError:
        raise
    except ssl.SSLError as exc:
        raise FetchError("tls", str(exc)) from None
    except TimeoutError:
        raise FetchError("timeout", f"no complete answer within {timeout:g}s") from None
    except http.client.IncompleteRead as exc:
        raise FetchError("truncated", f"body ended after {len(exc.partial)} bytes of a chunk") from None
    except http.client.RemoteDisconnected:
        raise FetchError("connect", "closed the connection without an answer") from None
    except (http.client.BadStatusLine, http.client.LineTooLong) as exc:
        raise FetchError("protocol", f"not an HTTP answer ({type(exc).__name__})") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError("connect", str(exc) or type(exc).__name__) from None
    finally:
        conn.close()
    if body and not body.endswith(b"\n"):
        # The text format ends every line with \n; a body without one was cut in the middle of a line.
        raise FetchError("truncated", "body does not end with a newline (cut inside a line)")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FetchError("encoding", f"body is not UTF-8 (byte {exc.start})") from None


def _read_body(
    sock: socket.socket | None, response: http.client.HTTPResponse, deadline: float, max_bytes: int
) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if sock is not None:
            sock.settimeout(remaining)
        chunk = response.read1(_READ_SIZE)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise FetchError("too_large", f"body is over the {max_bytes}-byte limit")
        parts.append(chunk)
    if response.length:  # Content-Length announced more than arrived
        raise FetchError("truncated", f"connection closed {response.length} bytes before the announced end")
    return b"".join(parts)
