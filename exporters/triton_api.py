"""What Triton's HTTP API says about the server and its models.

The calls are plain HTTP/1.1 exchanges through ``fetch.fetch`` (not tritonclient, whose timeouts
are per socket call and whose answers have no size cap): every call of a snapshot shares one
deadline and is capped at ``max_bytes``, so a trickling or huge answer costs at most the deadline
and the cap. Model configs are cached per (model, version) and fetched again only when that
version (re)becomes ready, so a scrape of a 500-model node costs a handful of calls, not a thousand.

Every answer is decoded defensively: JSON of the wrong shape (a list where a mapping is expected,
strings where numbers are, null, nested wrong types, NaN) costs only what is derived from it. A
whole answer of no use is a partial error ``unparseable``; one bad entry or value in it is skipped
and counted in ``bad_values`` (the exporter adds it to ``triton_slo_parse_errors_total``). Nothing
raises out of ``snapshot`` but ApiError.
"""

from __future__ import annotations

import json
import math
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from triton_slo.exporters.fetch import DEFAULT_MAX_BYTES, FetchError, check_deadline, fetch

ACCESS_TOKEN_HEADER = "triton-access-token"  # what PyTriton's restricted endpoints expect
CONFIG_RETRY_S = 300.0  # model configs refused (401/403): asked again after this long
FORGET_AFTER_S = 3600.0  # a model version gone from the server this long stops being reported
_STATUS_REASONS = {401: "unauthorized", 403: "unauthorized", 404: "not_found"}
_FAILED = object()  # what a partial call that failed returns (JSON null is an answer: None)
_INT_TEXT = re.compile(r"-?[0-9]{1,20}")  # protobuf's JSON writes 64-bit integers as strings


@dataclass(frozen=True)
class ModelState:
    model: str
    version: str
    ready: bool
    reason: str = ""


@dataclass(frozen=True)
class ModelConfig:
    platform: str
    backend: str
    max_batch_size: int
    dynamic_batching: bool
    instance_kind: str  # gpu, cpu, model, auto, or mixed
    instance_count: int
    gpus: tuple[int, ...]  # CUDA device indexes of the GPU instance groups


@dataclass(frozen=True)
class ModelStats:
    model: str
    version: str
    last_inference_s: float
    success: int
    fail: int
    durations_s: dict[str, float]  # phase -> seconds (the API counts ns)
    batch_executions: dict[int, int]  # batch size -> executions
    bad_values: int = 0  # fields skipped as not what the extension writes (0 used in their place)


@dataclass
class ApiSnapshot:
    live: bool = False
    ready: bool = False
    models: list[ModelState] = field(default_factory=list)
    configs: dict[tuple[str, str], ModelConfig] = field(default_factory=dict)
    stats: list[ModelStats] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (reason, detail) of calls that failed
    bad_values: int = 0  # entries and values skipped as malformed


class ApiError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class BadValue(ValueError):
    """A JSON value that is not what the Triton API writes there."""


# --- defensive JSON access --------------------------------------------------------------------------
def _show(value: object) -> str:
    return f"{type(value).__name__} {str(value)[:40]!r}"


def _int(value: object, what: str, low: int = -(1 << 63), high: int = (1 << 64) - 1) -> int:
    if isinstance(value, bool):
        raise BadValue(f"{what}: {_show(value)} is not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value == int(value):
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value):
        number = int(value)
    else:
        raise BadValue(f"{what}: {_show(value)} is not an integer")
    if not low <= number <= high:
        raise BadValue(f"{what}: {number} is out of range")
    return number


def _opt_int(value: object, what: str, default: int = 0, low: int = -(1 << 63)) -> int:
    """An integer field that may be absent or null (Triton leaves zero fields out)."""
    return default if value is None else _int(value, what, low)


def _text(value: object, what: str, numbers: bool = False) -> str:
    """A string field (``numbers``: a whole number is taken for its decimal text, as for versions)."""
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise BadValue(f"{what}: {_show(value)} is not a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON \\ud800 escape: not writable as UTF-8
        raise BadValue(f"{what}: not valid Unicode") from None
    return value


def _opt_text(value: object, what: str, numbers: bool = False) -> str:
    return "" if value is None else _text(value, what, numbers)


def _mapping(value: object, what: str, optional: bool = True) -> dict:
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise BadValue(f"{what}: {_show(value)} is not a mapping")
    return value


def _list(value: object, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadValue(f"{what}: {_show(value)} is not a list")
    return value


def summarize_config(config: dict) -> ModelConfig:
    """The fields of a Triton model config (JSON form) that the info series carries; BadValue
    (a ValueError) when the config is not one."""
    config = _mapping(config, "config", optional=False)
    groups = [_mapping(g, "instance_group entry", optional=False)
              for g in _list(config.get("instance_group"), "instance_group")]
    kinds = {_text(g.get("kind", "KIND_AUTO"), "kind").removeprefix("KIND_").lower() for g in groups}
    count = 0
    gpus: list[int] = []
    for group in groups:
        group_gpus = [_int(g, "gpus", 0, 1 << 20) for g in _list(group.get("gpus"), "gpus")]
        per_device = _opt_int(group.get("count"), "count", 1, 0) or 1
        if per_device > 1 << 20:
            raise BadValue(f"count: {per_device} is out of range")
        is_gpu = _text(group.get("kind", ""), "kind").upper() == "KIND_GPU"
        count += per_device * max(1, len(group_gpus)) if is_gpu else per_device
        if is_gpu:
            gpus.extend(g for g in group_gpus if g not in gpus)
    return ModelConfig(
        platform=_opt_text(config.get("platform"), "platform"),
        backend=_opt_text(config.get("backend"), "backend"),
        max_batch_size=_opt_int(config.get("max_batch_size"), "max_batch_size"),
        dynamic_batching="dynamic_batching" in config,
        instance_kind=kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else ""),
        instance_count=count,
        gpus=tuple(sorted(gpus)),
    )


def stats_key(entry: object) -> tuple[str, str]:
    """(model, version) of a ``model_stats`` entry; BadValue when it names none."""
    entry = _mapping(entry, "model_stats entry", optional=False)
    name = _text(entry.get("name"), "name")
    if not name:
        raise BadValue("model_stats entry without a name")
    return name, _opt_text(entry.get("version"), "version", numbers=True)


def summarize_stats(entry: dict) -> ModelStats:
    """One entry of the statistics extension's ``model_stats`` (durations ns -> s). BadValue when
    the entry names no model; a bad field inside it is skipped and counted in ``bad_values``."""
    model, version = stats_key(entry)
    bad = 0

    def field_of(value: object, convert: Callable[[object], int]) -> int:
        nonlocal bad
        try:
            return convert(value)
        except BadValue:
            bad += 1
            return 0

    try:
        inference = _mapping(entry.get("inference_stats"), "inference_stats")
    except BadValue:
        inference, bad = {}, bad + 1
    phases: dict[str, dict] = {}
    for phase in ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output"):
        try:
            phases[phase] = _mapping(inference.get(phase), phase)
        except BadValue:
            phases[phase], bad = {}, bad + 1
    counts = {phase: field_of(phases[phase].get("count"), lambda v: _opt_int(v, "count", 0, 0))
              for phase in ("success", "fail")}
    durations = {phase: field_of(data.get("ns"), lambda v: _opt_int(v, "ns", 0, 0)) / 1e9
                 for phase, data in phases.items()}
    batches: dict[int, int] = {}
    try:
        batch_stats = _list(entry.get("batch_stats"), "batch_stats")
    except BadValue:
        batch_stats, bad = [], bad + 1
    for item in batch_stats:
        try:
            item = _mapping(item, "batch_stats entry", optional=False)
            size = _opt_int(item.get("batch_size"), "batch_size", 0, 0)
            batches[size] = _opt_int(_mapping(item.get("compute_infer"), "compute_infer").get("count"),
                                     "count", 0, 0)
        except BadValue:
            bad += 1  # this batch size's series only
    last = field_of(entry.get("last_inference"), lambda v: _opt_int(v, "last_inference", 0, 0))
    return ModelStats(
        model=model,
        version=version,
        last_inference_s=last / 1000,
        success=counts["success"],
        fail=counts["fail"],
        durations_s=durations,
        batch_executions=batches,
        bad_values=bad,
    )


def index_entry(entry: object) -> tuple[str, str, str, str]:
    """(name, version, state, reason) of a repository index entry; BadValue when it is not one."""
    entry = _mapping(entry, "repository index entry", optional=False)
    name = _text(entry.get("name"), "name")
    if not name:
        raise BadValue("repository index entry without a name")
    return (name, _text(entry.get("version") or "", "version", numbers=True), _text(entry.get("state") or "", "state"),
            _text(entry.get("reason") or "", "reason"))


def client_url(url: str) -> tuple[str, bool]:
    """tritonclient wants host:port without a scheme, and ssl=True for https."""
    parts = urlsplit(url)
    return parts.netloc, parts.scheme == "https"


def classify(exc: BaseException) -> tuple[str, str]:
    """A failure (ours, tritonclient's, gevent's, a socket's) -> (reason, one-line detail)."""
    if isinstance(exc, (ApiError, FetchError)):
        return exc.reason, exc.detail
    try:
        from tritonclient.utils import InferenceServerException
    except ImportError:  # pragma: no cover - tritonclient is a dependency (the prober's inferences)
        InferenceServerException = ()  # noqa: N806

    if isinstance(exc, InferenceServerException):
        status = exc.status()
        # guarded (PyTriton without its access token) or absent: say which, it is why models go unseen
        reason = {"401": "unauthorized", "403": "unauthorized", "404": "not_found"}.get(str(status), "api")
        return reason, f"{status or 'error'}: {(exc.message() or '').splitlines()[0] if exc.message() else ''}"
    name = type(exc).__name__
    if isinstance(exc, TimeoutError) or "Timeout" in name:
        return "timeout", name
    if isinstance(exc, ConnectionRefusedError):
        return "connect", "connection refused"
    if isinstance(exc, OSError):
        return "connect", str(exc) or name
    return "api", f"{name}: {exc}"


def _error_detail(status: int, body: bytes) -> str:
    message = ""
    try:
        decoded = json.loads(body)
        if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
            message = decoded["error"]
    except (ValueError, RecursionError):
        message = body[:200].decode("utf-8", "replace")
    lines = message.strip().splitlines()
    return f"{status}: {lines[0][:200] if lines else ''}".strip()


class TritonApi:
    """Reads health, the repository index, configs and statistics; remembers configs between calls."""

    def __init__(self, url: str, timeout: float, token: str | None = None, statistics: bool = True, *,
                 max_bytes: int = DEFAULT_MAX_BYTES, cancel: threading.Event | None = None) -> None:
        parts = urlsplit(url)
        self._base = f"{parts.scheme or 'http'}://{parts.netloc}"
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._cancel = cancel
        self._headers = {"Accept": "application/json", **({ACCESS_TOKEN_HEADER: str(token)} if token else {})}
        self._statistics = statistics
        self._configs: dict[tuple[str, str], ModelConfig] = {}
        self._seen: dict[tuple[str, str], float] = {}  # model version -> when last seen loaded
        self._configs_denied_until = 0.0  # model configs guarded (401/403): not asked before then

    def close(self) -> None:
        """Nothing to release: every call is a connection of its own."""

    # --- calls ------------------------------------------------------------------------------------
    def _exchange(self, method: str, path: str, deadline: float, read_error_body: bool = True):  # noqa: ANN202
        try:
            return fetch(self._base + path, deadline, self._max_bytes, method=method, headers=self._headers,
                         ssl_context=self._ssl, cancel=self._cancel, read_error_body=read_error_body)
        except FetchError as exc:
            raise ApiError(exc.reason, exc.detail) from None

    def _ok(self, path: str, deadline: float) -> bool:
        """A health or readiness endpoint: 200 is yes, any other answer no."""
        return self._exchange("GET", path, deadline, read_error_body=False).status == 200

    def _json(self, method: str, path: str, deadline: float) -> object:
        response = self._exchange(method, path, deadline)
        if response.status != 200:
            raise ApiError(_STATUS_REASONS.get(response.status, "api"), _error_detail(response.status, response.body))
        try:
            return json.loads(response.body)
        except (ValueError, RecursionError) as exc:
            raise ApiError("unparseable", f"{path}: not JSON ({type(exc).__name__})") from None

    @staticmethod
    def _model_path(model: str, version: str) -> str:
        path = f"/v2/models/{quote(model, safe='')}"
        return f"{path}/versions/{quote(version, safe='')}" if version else path

    # --- the snapshot ---------------------------------------------------------------------------
    def snapshot(self, known: Callable[[], Iterable[tuple[str, str]]] | None = None,
                 deadline: float | None = None) -> ApiSnapshot:
        """Raises ApiError when the server cannot be reached at all, or the deadline (default: now
        plus the timeout) passes before the snapshot is complete; partial failures are recorded.

        ``known()``: model versions named elsewhere (Triton's /metrics), asked one by one for
        readiness when the index or the statistics failed (guarded by a token, or absent).
        """
        if deadline is None:
            deadline = time.monotonic() + self._timeout
        try:
            return self._snapshot(known, deadline)
        except TimeoutError:
            raise ApiError("timeout", "the API's answers took past the deadline") from None

    def _call(self, snap: ApiSnapshot, call: Callable[[], object]) -> object:
        """One call whose failure is partial (recorded, ``_FAILED``); past the deadline the snapshot fails."""
        try:
            return call()
        except ApiError as exc:
            if exc.reason == "timeout":
                raise
            snap.errors.append((exc.reason, exc.detail))
            return _FAILED

    def _snapshot(self, known: Callable[[], Iterable[tuple[str, str]]] | None, deadline: float) -> ApiSnapshot:
        snap = ApiSnapshot()
        snap.live = self._ok("/v2/health/live", deadline)
        snap.ready = self._ok("/v2/health/ready", deadline)
        index: list[tuple[str, str, str, str]] = []
        raw_index = self._call(snap, lambda: self._json("POST", "/v2/repository/index", deadline))
        if raw_index is not _FAILED and not isinstance(raw_index, list):
            snap.errors.append(("unparseable", f"repository index: {_show(raw_index)} is not a list"))
        elif raw_index is not _FAILED:
            for entry in raw_index:
                check_deadline(deadline)
                try:
                    index.append(index_entry(entry))
                except BadValue:
                    snap.bad_values += 1
        named: list[tuple[str, str]] = []
        raw_stats = self._call(snap, lambda: self._json("GET", "/v2/models/stats", deadline))
        entries: list = []
        if raw_stats is not _FAILED:
            try:
                entries = _list(_mapping(raw_stats, "statistics", optional=False).get("model_stats"), "model_stats")
            except BadValue as exc:
                snap.errors.append(("unparseable", f"statistics: {exc}"))
        for entry in entries:
            check_deadline(deadline)
            try:
                key = stats_key(entry)
                if self._statistics:
                    stats = summarize_stats(entry)
                    snap.stats.append(stats)
                    snap.bad_values += stats.bad_values
            except BadValue:
                snap.bad_values += 1
                continue
            named.append(key)
        if snap.errors and known is not None:
            named.extend(known())
        snap.models = self._states(index, named, snap, deadline)
        for state in snap.models:
            check_deadline(deadline)
            key = (state.model, state.version)
            if not state.ready:
                self._configs.pop(key, None)  # a reload may change it: fetch again when ready
                continue
            if key not in self._configs and time.monotonic() < self._configs_denied_until:
                continue  # guarded: not asked again per model and scrape, only once in a while
            if key not in self._configs:
                path = self._model_path(state.model, state.version) + "/config"
                errors = len(snap.errors)
                config = self._call(snap, lambda path=path: self._json("GET", path, deadline))
                if config is _FAILED:
                    if len(snap.errors) > errors and snap.errors[-1][0] == "unauthorized":
                        self._configs_denied_until = time.monotonic() + CONFIG_RETRY_S
                    continue
                try:
                    self._configs[key] = summarize_config(config)
                except BadValue:
                    snap.bad_values += 1  # this version's info series only; asked again next time
                    continue
            snap.configs[key] = self._configs[key]
        return snap

    def _states(self, index: list[tuple[str, str, str, str]], named: list[tuple[str, str]], snap: ApiSnapshot,
                deadline: float) -> list[ModelState]:
        """One state per model version, from the repository index and the statistics extension.

        The index lists every model of the repository with the state of its loaded versions, but
        only what the repository directory holds: models that PyTriton loads through the API are
        missing from it. Those are found in the statistics (loaded versions) and asked one by one.
        A version seen before that is now in neither is reported not ready (absent is not zero)
        until it has been gone for FORGET_AFTER_S.
        """
        now = time.monotonic()
        states: dict[tuple[str, str], ModelState] = {}
        unversioned: dict[str, str] = {}
        for name, version, state, reason in index:
            ready = state.upper() == "READY"
            if version:
                states[(name, version)] = ModelState(name, version, ready, reason)
            else:
                unversioned[name] = reason or state
        for key in named:
            if key in states or not key[0]:
                continue
            check_deadline(deadline)
            path = self._model_path(*key) + "/ready"
            ready = self._call(snap, lambda path=path: self._ok(path, deadline))
            if ready is _FAILED:
                continue
            states[key] = ModelState(key[0], key[1], bool(ready), "" if ready else "not ready")
        for key in states:
            self._seen[key] = now
        for key, seen in list(self._seen.items()):
            if key in states:
                continue
            if now - seen > FORGET_AFTER_S:
                del self._seen[key]
                continue
            reason = unversioned.get(key[0], "not loaded")
            states[key] = ModelState(key[0], key[1], False, reason)
        return sorted(states.values(), key=lambda s: (s.model, s.version))
