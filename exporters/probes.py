"""Client-side truth: real inference requests to every ready model version, at a low, jittered rate.

Two kinds of probe per model version, both sent with tritonclient:

- latency: one sample (from the golden set when there is one, else a fixed pseudo-random input
  shaped from the model's metadata) every ``interval``; its latency goes to the histogram;
- golden: a small batch of the labelled set every ``golden.interval``; argmax(output) == label is
  counted into correct/total, outputs with NaN/Inf into nonfinite.

Both count their outcome (success, error, timeout). Triton's own counters miss front-end errors
and count python-backend error responses as successes; these counters do not.
A token bucket caps the requests per second across all models.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from triton_slo import names
from triton_slo.errors import UserError
from triton_slo.exporters.config import ProbeConfig, log
from triton_slo.exporters.render import OwnFamily, counter_family, format_value, label_text
from triton_slo.exporters.triton_api import ACCESS_TOKEN_HEADER, ApiError, TritonApi, classify, client_url

RESULTS = ("success", "error", "timeout")

# Triton datatype -> numpy dtype for the inputs a probe sends.
_NUMPY = {
    "FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "INT8": np.int8, "INT16": np.int16,
    "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8, "BOOL": np.bool_,
}


@dataclass(frozen=True)
class GoldenSet:
    inputs: np.ndarray
    labels: np.ndarray

    def batch(self, start: int, size: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``size`` samples from ``start`` on, wrapping around; and where the next batch starts."""
        count = len(self.labels)
        index = (np.arange(size) + start) % count
        return self.inputs[index], self.labels[index], int((start + size) % count)


def load_golden(path: Path) -> GoldenSet:
    """A labelled set: an .npz with ``inputs`` (N, ...) and integer ``labels`` (N,)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"inputs", "labels"} - set(data.files)
            if missing:
                raise UserError(f"golden set {path}: missing array(s) {', '.join(sorted(missing))} "
                                f"(has {', '.join(data.files) or 'none'})")
            inputs, labels = np.asarray(data["inputs"]), np.asarray(data["labels"])
    except (OSError, ValueError) as exc:
        raise UserError(f"golden set {path}: not a readable .npz file ({exc})") from None
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"golden set {path}: labels must be a 1-D integer array, got {labels.dtype}{labels.shape}")
    if inputs.ndim < 1 or len(inputs) != len(labels) or len(labels) == 0:
        raise UserError(f"golden set {path}: {len(inputs)} inputs for {len(labels)} labels")
    return GoldenSet(inputs, labels)


def score(logits: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(correct, nonfinite) for a batch of class scores; a non-finite row is never correct."""
    rows = logits.reshape(len(labels), -1)
    finite = np.isfinite(rows).all(axis=1)
    correct = (np.argmax(np.where(np.isfinite(rows), rows, -np.inf), axis=1) == labels) & finite
    return int(correct.sum()), int((~finite).sum())


@dataclass(frozen=True)
class Target:
    """One model version to probe, with what its metadata says about the tensors."""

    model: str
    version: str
    input_name: str
    datatype: str
    sample_shape: tuple[int, ...]  # without the batch dimension; -1 dims set to 1
    output_name: str
    batched: bool  # max_batch_size > 0: the first dimension is the batch
    golden: bool


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts of one."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event) -> bool:
        with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(self._next, now) + self._interval
        return not (wait > 0 and stop.wait(wait))


def jittered(interval: float, jitter: float, rng: random.Random) -> float:
    return interval * (1 + rng.uniform(-jitter, jitter))


class ProbeStats:
    """The probes' counters and latency histogram per model version (thread-safe).

    Kept as plain numbers and rendered by exporters.render: 500 model versions of histograms
    must render in a few milliseconds at every scrape.
    """

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = tuple(buckets)
        self._bounds = [format_value(b) for b in self.buckets] + ["+Inf"]
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], dict] = {}

    def register(self, model: str, version: str, golden: bool) -> None:
        """Series exist at 0 from the first probe on, so ratios and increase() have a start."""
        with self._lock:
            entry = self._series.setdefault((model, version), {
                "buckets": [0] * (len(self.buckets) + 1), "sum": 0.0, "count": 0,
                "results": dict.fromkeys(RESULTS, 0), "golden": None,
                # label blocks written once: every scrape renders them all
                "labels": label_text((("model", model), ("version", version))),
                "le": [label_text((("model", model), ("version", version), ("le", b))) for b in self._bounds],
                "result": {r: label_text((("model", model), ("version", version), ("result", r))) for r in RESULTS},
            })
            if golden and entry["golden"] is None:
                entry["golden"] = {"correct": 0, "total": 0, "nonfinite": 0}

    def record(self, model: str, version: str, result: str, latency_s: float | None = None) -> None:
        with self._lock:
            entry = self._series[(model, version)]
            entry["results"][result] += 1
            if latency_s is not None:
                entry["buckets"][bisect.bisect_left(self.buckets, latency_s)] += 1
                entry["sum"] += latency_s
                entry["count"] += 1

    def record_golden(self, model: str, version: str, total: int, correct: int, nonfinite: int) -> None:
        with self._lock:
            golden = self._series[(model, version)]["golden"]
            golden["total"] += total
            golden["correct"] += correct
            golden["nonfinite"] += nonfinite

    def value(self, model: str, version: str, what: str) -> float:
        """For tests and logs: a result count, ``count``, ``sum`` or a golden counter."""
        with self._lock:
            entry = self._series.get((model, version))
            if entry is None:
                return 0.0
            if what in RESULTS:
                return entry["results"][what]
            if what in ("count", "sum"):
                return entry[what]
            return entry["golden"][what] if entry["golden"] is not None else 0.0

    def families(self) -> list[OwnFamily]:
        latency = OwnFamily(names.PROBE_LATENCY, "histogram",
                            "Latency of probe inference requests (one sample), measured by the client.")
        requests = OwnFamily(counter_family(names.PROBE_REQUESTS), "counter",
                             "Probe inference requests by result (success, error, timeout).")
        correct = OwnFamily(counter_family(names.GOLDEN_CORRECT), "counter",
                            "Golden-set samples the model classified correctly.")
        total = OwnFamily(counter_family(names.GOLDEN_TOTAL), "counter", "Golden-set samples sent and answered.")
        nonfinite = OwnFamily(counter_family(names.GOLDEN_NONFINITE), "counter",
                              "Golden-set outputs holding NaN or Inf.")
        with self._lock:
            items = sorted(self._series.items())
            # lines written directly (not through OwnFamily.add): 500 model versions are ~10k lines
            bucket, count_name, sum_name = (latency.name + s for s in ("_bucket", "_count", "_sum"))
            requests_name = names.PROBE_REQUESTS
            lat, req = latency.lines, requests.lines
            for _, entry in items:
                base = entry["labels"]
                cumulative = 0
                for labels, count in zip(entry["le"], entry["buckets"], strict=True):
                    cumulative += count
                    lat.append(f"{bucket}{labels} {cumulative}.0\n")
                lat.append(f"{count_name}{base} {entry['count']}.0\n")
                lat.append(f"{sum_name}{base} {format_value(entry['sum'])}\n")
                for result, count in entry["results"].items():
                    req.append(f"{requests_name}{entry['result'][result]} {count}.0\n")
                golden = entry["golden"]
                if golden is not None:
                    correct.add(base, golden["correct"], "_total")
                    total.add(base, golden["total"], "_total")
                    nonfinite.add(base, golden["nonfinite"], "_total")
        return [latency, requests, correct, total, nonfinite]


def _log(message: str) -> None:
    log(logging.WARNING, message)  # redacted: an error body may echo the access token


class Prober:
    """Runs the probes in the background: ``start()``, ``stop()``."""

    def __init__(self, config: ProbeConfig, triton_url: str, token: str | None, workers: int = 4) -> None:
        self.config = config
        self.stats = ProbeStats(config.buckets)
        self.golden = load_golden(config.golden_file) if config.golden_file else None
        self._url = triton_url
        self._token = token
        self._headers = {ACCESS_TOKEN_HEADER: token} if token else None
        self._stop = threading.Event()
        self._bucket = TokenBucket(config.max_requests_per_second)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")
        self._local = threading.local()
        self._rng = random.Random()
        self._targets: dict[tuple[str, str], Target] = {}
        self._golden_pos: dict[tuple[str, str], int] = {}
        self._warned: set[str] = set()
        self._thread: threading.Thread | None = None
        # model versions named elsewhere (Triton's /metrics): probed too when the index is guarded
        self.known_models: Callable[[], Iterable[tuple[str, str]]] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._schedule, name="probe-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop scheduling; a probe in flight is not waited for beyond ``timeout`` (its worker is
        left to finish under its own deadline)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def targets(self) -> list[Target]:
        return sorted(self._targets.values(), key=lambda t: (t.model, t.version))

    # --- scheduling -----------------------------------------------------------------------
    def _schedule(self) -> None:
        """One heap of (due time, kind, key); a refresh of the targets is one of the kinds."""
        queue: list[tuple[float, str, tuple[str, str]]] = [(time.monotonic(), "refresh", ("", ""))]
        scheduled: set[tuple[str, tuple[str, str]]] = set()
        while not self._stop.is_set():
            due, kind, key = heapq.heappop(queue)
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            if kind == "refresh":
                self._future(self._refresh).result()  # on a worker: the client lives there
                for target_key, target in self._targets.items():
                    # new targets start at a random point of their interval: no thundering herd
                    if ("latency", target_key) not in scheduled:
                        scheduled.add(("latency", target_key))
                        start = time.monotonic() + self._rng.uniform(0, self.config.interval_s)
                        heapq.heappush(queue, (start, "latency", target_key))
                    if target.golden and self.golden is not None and ("golden", target_key) not in scheduled:
                        scheduled.add(("golden", target_key))
                        start = time.monotonic() + self._rng.uniform(0, self.config.golden_interval_s)
                        heapq.heappush(queue, (start, "golden", target_key))
                heapq.heappush(queue, (time.monotonic() + self.config.refresh_s, "refresh", key))
                continue
            target = self._targets.get(key)
            if target is None:
                scheduled.discard((kind, key))  # it left the index: its probes stop
                continue
            if not self._bucket.acquire(self._stop):
                return
            if kind == "latency":
                self._future(self._probe_latency, target)
                interval = self.config.interval_s
            else:
                self._future(self._probe_golden, target)
                interval = self.config.golden_interval_s
            heapq.heappush(queue, (time.monotonic() + jittered(interval, self.config.jitter, self._rng), kind, key))

    def _future(self, func: Callable, *args: object):  # noqa: ANN202
        return self._pool.submit(self._guard, func, *args)

    def _guard(self, func: Callable, *args: object) -> None:
        try:
            func(*args)
        except Exception as exc:  # noqa: BLE001 - a probe bug must not stop the schedule
            _log(f"probe: {type(exc).__name__}: {exc}")

    def _client(self):  # noqa: ANN202 - one tritonclient per worker thread (gevent-bound)
        client = getattr(self._local, "client", None)
        if client is None:
            import tritonclient.http as httpclient

            host, use_ssl = client_url(self._url)
            timeout = self.config.timeout_s
            client = httpclient.InferenceServerClient(
                host, connection_timeout=timeout, network_timeout=timeout, ssl=use_ssl
            )
            self._local.client = client
        return client

    # --- targets ----------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Follow the server's ready model versions (the same discovery as the exporter's API part)."""
        api = getattr(self._local, "api", None)
        if api is None:
            api = self._local.api = TritonApi(self._url, self.config.timeout_s, self._token, statistics=False)
        try:
            snapshot = api.snapshot(known=self.known_models)
        except ApiError as exc:
            self._warn("index", f"probe targets not refreshed: {exc.reason}: {exc.detail}")
            return
        targets: dict[tuple[str, str], Target] = {}
        for state in snapshot.models:
            name, version = state.model, state.version
            settings = self.config.models.get(name)
            if self.config.models and settings is None or settings is not None and not settings.enabled:
                continue
            config = snapshot.configs.get((name, version))
            if not state.ready:
                continue
            key = (name, version)
            # no config (guarded like the index): batching is read from the metadata's shapes
            target = self._targets.get(key) or self._describe(
                name, version, config.max_batch_size if config is not None else None)
            if target is not None:
                targets[key] = target
                self.stats.register(name, version, target.golden)
        self._targets = targets

    def _describe(self, name: str, version: str, max_batch_size: int | None) -> Target | None:
        client = self._client()
        try:
            meta = client.get_model_metadata(name, version, headers=self._headers)
        except Exception as exc:  # noqa: BLE001
            self._warn(f"meta:{name}", f"probe of {name}/{version} skipped: metadata: {classify(exc)[1]}")
            return None
        settings = self.config.models.get(name)
        inputs, outputs = meta.get("inputs") or [], meta.get("outputs") or []
        input_name = settings.input if settings and settings.input else (inputs[0]["name"] if inputs else None)
        output_name = settings.output if settings and settings.output else (outputs[0]["name"] if outputs else None)
        spec = next((i for i in inputs if i.get("name") == input_name), None)
        if spec is None or output_name not in {o.get("name") for o in outputs}:
            self._warn(f"io:{name}", f"probe of {name}/{version} skipped: input {input_name!r} or output "
                                     f"{output_name!r} not in its metadata")
            return None
        if spec.get("datatype") not in _NUMPY:
            self._warn(f"dtype:{name}", f"probe of {name}/{version} skipped: input type {spec.get('datatype')}")
            return None
        shape = [int(d) for d in spec.get("shape", [])]
        # a batched model's metadata shapes start with the batch dimension, -1
        batched = max_batch_size > 0 if max_batch_size is not None else bool(shape) and shape[0] == -1
        sample_shape = tuple(max(1, d) for d in (shape[1:] if batched else shape))
        golden = self.golden is not None and (settings.golden if settings else True) and (
            self.config.golden_models is None or name in self.config.golden_models
        )
        if golden and self.golden.inputs.shape[1:] != sample_shape:
            self._warn(f"golden:{name}", f"golden probe of {name}/{version} skipped: the set's samples are "
                                         f"{self.golden.inputs.shape[1:]}, the model takes {sample_shape}")
            golden = False
        return Target(name, version, spec["name"], spec["datatype"], sample_shape, output_name, batched, golden)

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _log(message)

    # --- the probes -------------------------------------------------------------------------------
    def _input(self, target: Target) -> np.ndarray:
        if target.golden and self.golden is not None:
            return self.golden.inputs[:1]
        rng = np.random.default_rng(0)  # the same input every time: latency, not content, is measured
        return rng.standard_normal((1, *target.sample_shape)).astype(_NUMPY[target.datatype])

    def _infer(self, target: Target, batch: np.ndarray) -> tuple[str, float, np.ndarray | None]:
        import tritonclient.http as httpclient

        data = batch.astype(_NUMPY[target.datatype], copy=False)
        if not target.batched:
            data = data[0]
        tensor = httpclient.InferInput(target.input_name, list(data.shape), target.datatype)
        tensor.set_data_from_numpy(data, binary_data=True)
        wanted = [httpclient.InferRequestedOutput(target.output_name, binary_data=True)]
        started = time.perf_counter()
        try:
            response = self._client().infer(target.model, [tensor], model_version=target.version,
                                            outputs=wanted, headers=self._headers)
            output = response.as_numpy(target.output_name)
        except Exception as exc:  # noqa: BLE001
            reason, detail = classify(exc)
            self._warn(f"fail:{target.model}:{reason}", f"probe of {target.model}/{target.version}: {detail}")
            return ("timeout" if reason == "timeout" else "error"), time.perf_counter() - started, None
        elapsed = time.perf_counter() - started
        if output is None:
            return "error", elapsed, None
        return "success", elapsed, output

    def _probe_latency(self, target: Target) -> None:
        result, elapsed, _ = self._infer(target, self._input(target))
        self.stats.record(target.model, target.version, result, elapsed if result == "success" else None)

    def _probe_golden(self, target: Target) -> None:
        assert self.golden is not None
        key = (target.model, target.version)
        size = self.config.golden_batch_size if target.batched else 1
        inputs, labels, self._golden_pos[key] = self.golden.batch(self._golden_pos.get(key, 0), size)
        result, _, output = self._infer(target, inputs)
        if result == "success" and (output is None or output.size == 0 or output.size % len(labels)):
            result = "error"  # an answer of the wrong shape is a failure the server did not count
        self.stats.record(*key, result)
        if result != "success" or output is None:
            return
        correct, nonfinite = score(np.asarray(output, dtype=np.float64), labels)
        self.stats.record_golden(*key, len(labels), correct, nonfinite)
