"""A small client for the Prometheus HTTP query API (Prometheus, Thanos, Mimir, VictoriaMetrics).

Shared by `status`, `canary` and `snapshot`: they speak only /api/v1/query and
/api/v1/query_range, so they work against any engine that implements that API.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path

import requests
from triton_slo.errors import UserError


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]


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
    group.add_argument("--query-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="timeout of each query (default 30)")


def _read_secret(path: str, what: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise UserError(f"{what} {path}: {exc.strerror or exc}") from None


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
            raise UserError(f"--prometheus {url!r}: expected an http:// or https:// URL")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if basic_auth:
            self.session.auth = basic_auth
        if bearer_token:
            self.session.headers["Authorization"] = f"Bearer {bearer_token}"
        self.session.verify = ca_file or verify
        self.session.headers.update(headers or {})

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

    def _get(self, path: str, params: dict) -> dict:
        endpoint = f"{self.url}{path}"
        try:
            response = self.session.get(endpoint, params=params, timeout=self.timeout)
        except requests.exceptions.SSLError as exc:
            raise UserError(f"{endpoint}: TLS error: {exc.__class__.__name__}") from None
        except requests.exceptions.Timeout:
            raise UserError(f"{endpoint}: no answer within {self.timeout:g} s") from None
        except requests.exceptions.RequestException as exc:
            raise UserError(f"{endpoint}: cannot connect ({exc.__class__.__name__})") from None
        try:
            body = response.json()
        except ValueError:
            raise UserError(f"{endpoint}: HTTP {response.status_code}, not a Prometheus API answer") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", f"HTTP {response.status_code}") if isinstance(body, dict) else "bad body"
            raise UserError(f"{endpoint}: query {params.get('query', '')!r} failed: {error}")
        return body.get("data") or {}

    def query(self, expr: str, time: float | None = None) -> list[Sample]:
        """An instant vector (or scalar, as one unlabelled sample)."""
        params: dict = {"query": expr}
        if time is not None:
            params["time"] = f"{time:.3f}"
        data = self._get("/api/v1/query", params)
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar":
            return [Sample({}, _to_float(result[1]))]
        if kind != "vector":
            raise UserError(f"query {expr!r}: expected an instant vector, got {kind}")
        return [Sample(dict(item.get("metric", {})), _to_float(item["value"][1])) for item in result]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._get("/api/v1/query_range", params)
        return [
            Series(dict(item.get("metric", {})), [(float(t), _to_float(v)) for t, v in item.get("values", [])])
            for item in data.get("result", [])
        ]


def _to_float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan
