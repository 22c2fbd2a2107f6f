"""The exporter's settings: flags and an optional YAML file, validated into one frozen object.

Flags win over the file. Every problem is a one-line UserError naming the flag or the file and key;
the access token is read here and never printed (its repr is masked).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from triton_slo import __version__
from triton_slo.durations import flag_duration, parse_duration
from triton_slo.errors import UserError
from triton_slo.promapi import redact_url

DEFAULT_METRICS_PORT = 8002  # Triton's metrics port, when --triton names no port
DEFAULT_TIMEOUT_S = 4.0  # below Prometheus' default 10 s scrape timeout, with room for rendering
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024  # a 12k-series Triton page is about 2 MB
# Probe latency buckets (seconds) for millisecond models: 1 ms .. 10 s.
DEFAULT_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class Secret(str):
    """A string that never shows itself in a repr, a log line or a traceback's locals.

    Every Secret made is remembered, so that ``redact`` masks its value wherever it turns up: an
    upstream that echoes the request headers back in an error body puts the token in a message.
    """

    def __new__(cls, value: str) -> Secret:
        secret = super().__new__(cls, value)
        if value:
            with _SECRETS_LOCK:
                _SECRETS.add(str(value))
        return secret

    def __repr__(self) -> str:
        return "Secret('***')"


_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()


_SECRET_HEAD = 6  # a message cut short (an error body capped at 200 characters) may end a token early


def redact(text: str) -> str:
    """``text`` with every Secret's value and every URL password replaced by ``***``: the one
    function every log line and error message of the exporter goes through. A secret cut short
    (its first characters, then the end of a truncated message or quote) is masked too."""
    text = redact_url(str(text))  # user:password@ in a URL: the user stays, the password goes
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        text = _mask(text, secret)
    return text


def _mask(text: str, secret: str) -> str:
    head = secret[:_SECRET_HEAD]
    parts: list[str] = []
    start = 0
    while (found := text.find(head, start)) >= 0:
        end = found + len(head)
        while end - found < len(secret) and end < len(text) and text[end] == secret[end - found]:
            end += 1
        parts += [text[start:found], "***"]
        start = end
    return "".join(parts) + text[start:]


# --- logging: one logger, lines on stderr (logfmt or JSON), redacted ---------------------------
LOG = logging.getLogger("triton_slo.export")
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
LOG_FORMATS = ("logfmt", "json")


def log(level: int, message: str) -> None:
    """Log one line (redacted; never a traceback)."""
    LOG.log(level, "%s", redact(message), stacklevel=2)  # caller: the module that logs, not this one


class LogFormatter(logging.Formatter):
    """``ts=... level=warn msg="..."`` (logfmt, as Prometheus' exporters write) or one JSON object."""

    converter = time.gmtime  # UTC timestamps (Z)

    def __init__(self, kind: str = "logfmt") -> None:
        super().__init__()
        self.kind = kind

    def format(self, record: logging.LogRecord) -> str:
        level = {"WARNING": "warn", "CRITICAL": "error"}.get(record.levelname, record.levelname.lower())
        ts = self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z"
        message = redact(record.getMessage()).replace("\n", " ")
        if record.exc_info and record.exc_info[1] is not None:  # the one line, not the traceback
            exc = record.exc_info[1]
            message += f": {type(exc).__name__}: {redact(str(exc))}".replace("\n", " ")
        if self.kind == "json":
            return json.dumps({"ts": ts, "level": level, "caller": record.module, "msg": message})
        escaped = message.replace("\\", "\\\\").replace('"', '\\"')
        return f'ts={ts} level={level} caller={record.module} msg="{escaped}"'


def setup_logging(level: str = "info", kind: str = "logfmt") -> None:
    """Log lines of the exporter (and of anything else in the process) to stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(LogFormatter(kind))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LOG_LEVELS[level])
    LOG.setLevel(LOG_LEVELS[level])


def build_labels() -> tuple[tuple[str, str], ...]:
    """Labels of ``triton_slo_build_info``: version, revision (when installed from a git checkout,
    pip records the commit), python_version."""
    revision = ""
    try:
        direct = metadata.distribution("triton-slo").read_text("direct_url.json")
        revision = str(json.loads(direct or "{}").get("vcs_info", {}).get("commit_id", ""))
    except (metadata.PackageNotFoundError, ValueError, AttributeError):
        pass
    pairs = [("version", __version__)]
    if revision:
        pairs.append(("revision", revision))
    pairs.append(("python_version", platform.python_version()))
    return tuple(pairs)


@dataclass(frozen=True)
class ProbeModel:
    enabled: bool = True
    input: str | None = None  # default: the model's first input
    output: str | None = None  # default: the model's first output
    golden: bool = True


@dataclass(frozen=True)
class ProbeConfig:
    enabled: bool = True
    interval_s: float = 15.0
    jitter: float = 0.2  # +-20 % of the interval
    timeout_s: float = 2.0
    max_requests_per_second: float = 10.0
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    models: dict[str, ProbeModel] = field(default_factory=dict)  # empty: every ready model
    golden_file: Path | None = None
    golden_batch_size: int = 8
    golden_interval_s: float = 30.0
    golden_models: tuple[str, ...] | None = None  # None: every probed model
    refresh_s: float = 30.0  # how often the probe list follows the repository index


@dataclass(frozen=True)
class ExporterConfig:
    triton_url: str
    triton_metrics_url: str
    dcgm_url: str | None = None
    listen_host: str = ""
    listen_port: int = 9874
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    access_token: Secret | None = None
    triton_passthrough: bool = True
    dcgm_passthrough: bool = True
    statistics: bool = True
    triton_drop_labels: frozenset[str] = frozenset()
    dcgm_drop_labels: frozenset[str] = frozenset()
    web_config_file: Path | None = None
    probes: ProbeConfig = field(default_factory=ProbeConfig)


def http_url(text: str, where: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{where}: {text!r} is not an http(s) URL like http://127.0.0.1:8000")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise UserError(f"{where}: {text!r} has a bad port") from None
    return urlunsplit(parts)


def default_metrics_url(triton_url: str) -> str:
    """Triton's layout: HTTP on 8000, metrics on 8002 at /metrics -> same host, port + 2. A URL
    without a port (``https://triton.example``: the scheme's default port, an ingress) is not
    Triton's layout: its metrics default to the same host on Triton's metrics port, 8002."""
    parts = urlsplit(triton_url)
    port = parts.port + 2 if parts.port else DEFAULT_METRICS_PORT
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, f"{host}:{port}", "/metrics", "", ""))


def metrics_url(text: str, where: str) -> str:
    """A metrics URL; one without a path gets /metrics."""
    url = http_url(text, where)
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        url = urlunsplit(parts._replace(path="/metrics"))
    return url


def parse_listen(text: str, where: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UserError(f"{where}: {text!r} is not HOST:PORT (e.g. 0.0.0.0:9874 or :9874)")
    return host.strip("[]"), int(port)


def read_token(file: str | None, env: str | None, where: str) -> Secret | None:
    if file:
        try:
            token = Path(file).read_text().strip()
        except OSError as exc:
            raise UserError(f"{where}: cannot read the access token file {file}: {exc.strerror}") from None
        if not token:
            raise UserError(f"{where}: the access token file {file} is empty")
        return Secret(token)
    if env:
        token = os.environ.get(env, "").strip()
        if not token:
            raise UserError(f"{where}: environment variable {env} (the access token) is not set or empty")
        return Secret(token)
    return None


class _Reader:
    """Typed access to a YAML mapping with `FILE: a.b.c: message` errors and unknown-key checks."""

    def __init__(self, data: Any, file: str, path: str, allowed: tuple[str, ...]) -> None:
        self.file = file
        self.path = path
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise UserError(f"{file}: {path or 'top level'}: expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(map(str, data)) - set(allowed))
        if unknown:
            raise UserError(f"{file}: {self._at(unknown[0])}: unknown key (known: {', '.join(allowed)})")
        self.data = data

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> UserError:
        return UserError(f"{self.file}: {self._at(key)}: {message}")

    def sub(self, key: str, allowed: tuple[str, ...]) -> _Reader:
        return _Reader(self.data.get(key), self.file, self._at(key), allowed)

    def get(self, key: str, kind: type, default: Any = None) -> Any:
        value = self.data.get(key, default)
        if value is None or value is default:
            return value
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(key, f"expected {kind.__name__}, got {value!r}")
        return value

    def duration(self, key: str, default: float) -> float:
        value = self.data.get(key)
        if value is None:
            return default
        try:
            seconds = parse_duration(str(value))
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
        if seconds <= 0:
            raise self.error(key, "must be above zero")
        return seconds

    def names(self, key: str) -> frozenset[str]:
        value = self.data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "expected a list of label names")
        return frozenset(value)


def load_file(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UserError(f"--config: cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise UserError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return data if data is not None else {}


_TOP = ("listen", "web_config_file", "timeout", "max_body_bytes", "triton", "dcgm", "probes")
_TRITON = ("url", "metrics_url", "access_token_file", "access_token_env", "passthrough", "statistics", "drop_labels")
_DCGM = ("url", "passthrough", "drop_labels")
_PROBES = ("enabled", "interval", "jitter", "timeout", "max_requests_per_second", "buckets", "models", "golden",
           "refresh")
_GOLDEN = ("file", "batch_size", "interval", "models")
_MODEL = ("enabled", "input", "output", "golden")


def build(args: Any) -> ExporterConfig:
    """Flags (argparse namespace) + the optional --config file -> ExporterConfig."""
    file = getattr(args, "config", None)
    top = _Reader(load_file(file) if file else {}, file or "--config", "", _TOP)
    triton = top.sub("triton", _TRITON)
    dcgm = top.sub("dcgm", _DCGM)

    triton_text = args.triton or triton.get("url", str)
    if not triton_text:
        raise UserError("--triton: required (Triton's HTTP endpoint, e.g. http://127.0.0.1:8000), or triton.url")
    triton_url = http_url(triton_text, "--triton" if args.triton else f"{file}: triton.url")
    metrics_text = args.triton_metrics or triton.get("metrics_url", str)
    triton_metrics = (
        metrics_url(metrics_text, "--triton-metrics" if args.triton_metrics else f"{file}: triton.metrics_url")
        if metrics_text
        else default_metrics_url(triton_url)
    )
    dcgm_text = args.dcgm or dcgm.get("url", str)
    dcgm_url = metrics_url(dcgm_text, "--dcgm" if args.dcgm else f"{file}: dcgm.url") if dcgm_text else None

    listen_text = args.listen or top.get("listen", str)
    if not listen_text:
        raise UserError("--listen: required (HOST:PORT to serve /metrics on, e.g. 0.0.0.0:9874), or listen")
    host, port = parse_listen(listen_text, "--listen" if args.listen else f"{file}: listen")

    timeout = top.duration("timeout", DEFAULT_TIMEOUT_S)
    if getattr(args, "timeout", None) is not None:
        timeout = flag_duration(args.timeout, "--timeout")
    max_body = top.get("max_body_bytes", int, DEFAULT_MAX_BODY_BYTES)
    if max_body <= 0:
        raise top.error("max_body_bytes", "must be above zero")

    token = read_token(
        getattr(args, "triton_token_file", None) or triton.get("access_token_file", str),
        getattr(args, "triton_token_env", None) or triton.get("access_token_env", str),
        "--triton-token-file/--triton-token-env" if file is None else f"{file}: triton.access_token_*",
    )
    web_config = getattr(args, "web_config", None) or top.get("web_config_file", str)
    if web_config and not Path(web_config).is_file():
        raise UserError(f"--web-config: {web_config} is not a file")
    passthrough = not getattr(args, "no_passthrough", False)
    return ExporterConfig(
        triton_url=triton_url,
        triton_metrics_url=triton_metrics,
        dcgm_url=dcgm_url,
        listen_host=host,
        listen_port=port,
        timeout_s=timeout,
        max_body_bytes=max_body,
        access_token=token,
        triton_passthrough=passthrough and triton.get("passthrough", bool, True),
        dcgm_passthrough=passthrough and dcgm.get("passthrough", bool, True),
        statistics=triton.get("statistics", bool, True),
        triton_drop_labels=triton.names("drop_labels"),
        dcgm_drop_labels=dcgm.names("drop_labels"),
        web_config_file=Path(web_config) if web_config else None,
        probes=_probes(top.sub("probes", _PROBES), args),
    )


def _probes(reader: _Reader, args: Any) -> ProbeConfig:
    golden = reader.sub("golden", _GOLDEN)
    models: dict[str, ProbeModel] = {}
    models_data = reader.data.get("models") or {}
    if not isinstance(models_data, dict):
        raise reader.error("models", "expected a mapping of model name to settings")
    for name in models_data:
        model = reader.sub("models", tuple(map(str, models_data))).sub(str(name), _MODEL)
        models[str(name)] = ProbeModel(
            enabled=model.get("enabled", bool, True),
            input=model.get("input", str),
            output=model.get("output", str),
            golden=model.get("golden", bool, True),
        )
    buckets_data = reader.data.get("buckets")
    buckets = DEFAULT_BUCKETS
    if buckets_data is not None:
        if (
            not isinstance(buckets_data, list)
            or not buckets_data
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and b > 0 for b in buckets_data)
            or sorted(buckets_data) != buckets_data
            or len(set(buckets_data)) != len(buckets_data)
        ):
            raise reader.error("buckets", "expected increasing positive upper bounds in seconds, e.g. [0.005, 0.01]")
        buckets = tuple(float(b) for b in buckets_data)
    jitter = reader.get("jitter", float, 0.2)
    if not 0 <= jitter < 1:
        raise reader.error("jitter", "must be a fraction of the interval in [0, 1)")
    rate = reader.get("max_requests_per_second", float, 10.0)
    if rate <= 0:
        raise reader.error("max_requests_per_second", "must be above zero")
    golden_file = getattr(args, "golden", None) or golden.get("file", str)
    if golden_file and not Path(golden_file).is_file():
        where = "--golden" if getattr(args, "golden", None) else f"{reader.file}: probes.golden.file"
        raise UserError(f"{where}: {golden_file} is not a file")
    batch = golden.get("batch_size", int, 8)
    if batch <= 0:
        raise golden.error("batch_size", "must be above zero")
    golden_models = golden.data.get("models")
    if golden_models is not None and (
        not isinstance(golden_models, list) or not all(isinstance(m, str) for m in golden_models)
    ):
        raise golden.error("models", "expected a list of model names")
    enabled = reader.get("enabled", bool, True) and not getattr(args, "no_probes", False)
    return ProbeConfig(
        enabled=enabled,
        interval_s=reader.duration("interval", 15.0),
        jitter=jitter,
        timeout_s=reader.duration("timeout", 2.0),
        max_requests_per_second=rate,
        buckets=buckets,
        models=models,
        golden_file=Path(golden_file) if golden_file else None,
        golden_batch_size=batch,
        golden_interval_s=golden.duration("interval", 30.0),
        golden_models=tuple(golden_models) if golden_models is not None else None,
        refresh_s=reader.duration("refresh", 30.0),
    )
