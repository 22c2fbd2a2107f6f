"""What Triton's HTTP API says about the server and its models, through tritonclient.

One ``TritonApi`` per thread that uses it: tritonclient's HTTP client runs on gevent and a client
must stay in the thread that made it. Model configs are cached per (model, version) and fetched
again only when that version (re)becomes ready, so a scrape of a 500-model node costs a handful of
calls, not a thousand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

ACCESS_TOKEN_HEADER = "triton-access-token"  # what PyTriton's restricted endpoints expect
FORGET_AFTER_S = 3600.0  # a model version gone from the server this long stops being reported


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


@dataclass
class ApiSnapshot:
    live: bool = False
    ready: bool = False
    models: list[ModelState] = field(default_factory=list)
    configs: dict[tuple[str, str], ModelConfig] = field(default_factory=dict)
    stats: list[ModelStats] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (reason, detail) of calls that failed


class ApiError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def summarize_config(config: dict) -> ModelConfig:
    """The fields of a Triton model config (JSON form) that the info series carries."""
    groups = config.get("instance_group") or []
    kinds = {str(g.get("kind", "KIND_AUTO")).removeprefix("KIND_").lower() for g in groups}
    count = 0
    gpus: list[int] = []
    for group in groups:
        group_gpus = [int(g) for g in group.get("gpus") or []]
        per_device = int(group.get("count", 1) or 1)
        is_gpu = str(group.get("kind", "")).upper() == "KIND_GPU"
        count += per_device * max(1, len(group_gpus)) if is_gpu else per_device
        if is_gpu:
            gpus.extend(g for g in group_gpus if g not in gpus)
    return ModelConfig(
        platform=str(config.get("platform", "")),
        backend=str(config.get("backend", "")),
        max_batch_size=int(config.get("max_batch_size", 0) or 0),
        dynamic_batching="dynamic_batching" in config,
        instance_kind=kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else ""),
        instance_count=count,
        gpus=tuple(sorted(gpus)),
    )


def summarize_stats(entry: dict) -> ModelStats:
    """One entry of the statistics extension's ``model_stats`` (durations ns -> s)."""
    inference = entry.get("inference_stats") or {}

    def count(phase: str) -> int:
        return int((inference.get(phase) or {}).get("count", 0) or 0)

    durations = {
        phase: int((inference.get(phase) or {}).get("ns", 0) or 0) / 1e9
        for phase in ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")
    }
    batches = {
        int(b.get("batch_size", 0)): int((b.get("compute_infer") or {}).get("count", 0) or 0)
        for b in entry.get("batch_stats") or []
    }
    return ModelStats(
        model=str(entry.get("name", "")),
        version=str(entry.get("version", "")),
        last_inference_s=int(entry.get("last_inference", 0) or 0) / 1000,
        success=count("success"),
        fail=count("fail"),
        durations_s=durations,
        batch_executions=batches,
    )


def client_url(url: str) -> tuple[str, bool]:
    """tritonclient wants host:port without a scheme, and ssl=True for https."""
    parts = urlsplit(url)
    return parts.netloc, parts.scheme == "https"


def classify(exc: BaseException) -> tuple[str, str]:
    """A tritonclient/gevent/socket failure -> (reason, one-line detail)."""
    from tritonclient.utils import InferenceServerException

    if isinstance(exc, InferenceServerException):
        status = exc.status()
        return "api", f"{status or 'error'}: {(exc.message() or '').splitlines()[0] if exc.message() else ''}"
    name = type(exc).__name__
    if isinstance(exc, TimeoutError) or "Timeout" in name:
        return "timeout", name
    if isinstance(exc, ConnectionRefusedError):
        return "connect", "connection refused"
    if isinstance(exc, OSError):
        return "connect", str(exc) or name
    return "api", f"{name}: {exc}"


class TritonApi:
    """Reads health, the repository index, configs and statistics; remembers configs between calls."""

    def __init__(self, url: str, timeout: float, token: str | None = None, statistics: bool = True) -> None:
        import tritonclient.http as httpclient

        host, use_ssl = client_url(url)
        self._client = httpclient.InferenceServerClient(
            host, connection_timeout=timeout, network_timeout=timeout, ssl=use_ssl
        )
        self._headers = {ACCESS_TOKEN_HEADER: token} if token else None
        self._statistics = statistics
        self._configs: dict[tuple[str, str], ModelConfig] = {}
        self._seen: dict[tuple[str, str], float] = {}  # model version -> when last seen loaded

    def close(self) -> None:
        self._client.close()

    def snapshot(self) -> ApiSnapshot:
        """Raises ApiError when the server cannot be reached at all; partial failures are recorded."""
        snap = ApiSnapshot()
        try:
            snap.live = bool(self._client.is_server_live(headers=self._headers))
            snap.ready = bool(self._client.is_server_ready(headers=self._headers))
        except Exception as exc:  # noqa: BLE001 - every client failure maps to a reason
            raise ApiError(*classify(exc)) from None
        index: list[dict] = []
        try:
            index = self._client.get_model_repository_index(headers=self._headers)
        except Exception as exc:  # noqa: BLE001
            snap.errors.append(classify(exc))
        stats: list[dict] = []
        try:
            stats = self._client.get_inference_statistics(headers=self._headers).get("model_stats", [])
        except Exception as exc:  # noqa: BLE001
            snap.errors.append(classify(exc))
        if self._statistics:
            snap.stats = [summarize_stats(entry) for entry in stats]
        snap.models = self._states(index, stats, snap.errors)
        for state in snap.models:
            key = (state.model, state.version)
            if not state.ready:
                self._configs.pop(key, None)  # a reload may change it: fetch again when ready
                continue
            if key not in self._configs:
                try:
                    config = self._client.get_model_config(state.model, state.version, headers=self._headers)
                    self._configs[key] = summarize_config(config)
                except Exception as exc:  # noqa: BLE001
                    snap.errors.append(classify(exc))
                    continue
            snap.configs[key] = self._configs[key]
        return snap

    def _states(self, index: list[dict], stats: list[dict], errors: list[tuple[str, str]]) -> list[ModelState]:
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
        for entry in index:
            name = str(entry.get("name", ""))
            version = str(entry.get("version", "") or "")
            ready = str(entry.get("state", "")).upper() == "READY"
            if version:
                states[(name, version)] = ModelState(name, version, ready, str(entry.get("reason", "") or ""))
            else:
                unversioned[name] = str(entry.get("reason", "") or "") or str(entry.get("state", ""))
        for entry in stats:
            key = (str(entry.get("name", "")), str(entry.get("version", "")))
            if key in states or not key[0]:
                continue
            try:
                ready = bool(self._client.is_model_ready(key[0], key[1], headers=self._headers))
            except Exception as exc:  # noqa: BLE001
                errors.append(classify(exc))
                continue
            states[key] = ModelState(key[0], key[1], ready, "" if ready else "not ready")
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
