"""Collect at scrape time: Triton /metrics, Triton's HTTP API and dcgm-exporter, one snapshot each.

Concurrent scrapes are coalesced: the first one builds a snapshot, the others wait for it and get
the same bytes. Each upstream runs on a worker thread of its own with a deadline below the scrape
timeout; an upstream that hangs is not asked again while its last request is still pending, so a
hung server costs one stuck thread, not one per scrape. A failed upstream gives ``up 0``, a counted
error, and the rest of the page as usual.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from triton_slo import names
from triton_slo.exporters import dcgm, discovery
from triton_slo.exporters.config import ExporterConfig, build_labels, log
from triton_slo.exporters.fetch import REASONS, FetchError, fetch_text
from triton_slo.exporters.probes import Prober
from triton_slo.exporters.render import (
    OwnFamily,
    counter_family,
    label_text,
    merge_split_families,
    render_own,
    render_passthrough,
)
from triton_slo.exporters.textparse import Family, Scan, parse_labels, scan
from triton_slo.exporters.triton_api import ApiError, ApiSnapshot, TritonApi

TRITON, TRITON_API, DCGM = names.UPSTREAM_TRITON, names.UPSTREAM_TRITON_API, names.UPSTREAM_DCGM
PASSTHROUGH_PREFIXES = {TRITON: (names.TRITON_PREFIX,), DCGM: names.DCGM_PREFIXES}
_GPU_UUID_PAIR = names.LABEL_GPU_UUID + '="'  # in a sample line that carries Triton's GPU UUID
_MARGIN_S = 0.5  # left of Prometheus' scrape timeout for rendering and the answer itself


@dataclass
class Result:
    """One upstream's part of a snapshot."""

    upstream: str
    up: bool
    duration_s: float
    error: tuple[str, str] | None = None  # (reason, detail)
    scan: Scan | None = None
    api: ApiSnapshot | None = None
    decoded: dcgm.Decoded | None = None  # dcgm's decoded series, made on the upstream's worker
    families: list[OwnFamily] | None = None  # and their lines, written there too (under the deadline)
    parse_errors: int = 0  # values of the answer skipped as malformed (besides the scan's bad lines)


class Upstream:
    """A fetch job on its own worker thread: concurrent callers share the pending fetch."""

    def __init__(self, name: str, job: Callable[[float], Result]) -> None:
        self.name = name
        self._job = job
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"upstream-{name}")
        self._lock = threading.Lock()
        self._pending: Future | None = None

    def start(self, timeout: float) -> Future:
        with self._lock:
            if self._pending is None or self._pending.done():
                self._pending = self._pool.submit(self._run, timeout)
            return self._pending

    def pending(self) -> Future | None:
        """The fetch under way or last done (None before the first)."""
        with self._lock:
            return self._pending

    def _run(self, timeout: float) -> Result:
        """The job, every failure an answer: past the deadline (fetching, parsing or decoding) it
        is ``timeout``, and a decoding bug costs this upstream, never the page."""
        started = time.monotonic()
        try:
            result = self._job(timeout)
        except (FetchError, ApiError) as exc:
            return Result(self.name, False, time.monotonic() - started, (exc.reason, exc.detail))
        except TimeoutError as exc:
            return Result(self.name, False, time.monotonic() - started,
                          ("timeout", str(exc) or f"no complete answer within {timeout:g}s"))
        except Exception as exc:  # noqa: BLE001 - the guard of last resort around every decoder
            return Result(self.name, False, time.monotonic() - started,
                          ("unparseable", f"{type(exc).__name__}: {str(exc)[:200]}"))
        result.duration_s = time.monotonic() - started
        return result

    def close(self, wait_s: float = 0.0) -> None:
        """Stop taking jobs; with ``wait_s``, wait that long at most for the one under way."""
        with self._lock:
            pending = self._pending
        self._pool.shutdown(wait=False, cancel_futures=True)
        if wait_s > 0 and pending is not None:
            concurrent.futures.wait([pending], timeout=wait_s)


@dataclass
class Snapshot:
    results: dict[str, Result]
    passthrough: list[tuple[Family, frozenset[str]]]
    own: list[OwnFamily]
    _rendered: dict[tuple[bool, bool], bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def body(self, openmetrics: bool, gzipped: bool) -> bytes:
        """The page in one format, rendered once per snapshot whoever asks."""
        key = (openmetrics, gzipped)
        with self._lock:
            if key not in self._rendered:
                if gzipped:
                    self._rendered[key] = gzip.compress(self._plain_or_om(openmetrics), compresslevel=1)
                else:
                    self._rendered[key] = self._plain_or_om(openmetrics)
            return self._rendered[key]

    def _plain_or_om(self, openmetrics: bool) -> bytes:
        key = (openmetrics, False)
        if key in self._rendered:
            return self._rendered[key]
        passthrough = merge_split_families(self.passthrough) if openmetrics else self.passthrough
        parts = []
        for family, drop in passthrough:
            try:
                parts.append(render_passthrough(family, openmetrics, drop))
            except Exception as exc:  # noqa: BLE001 - one family that cannot be written costs itself only
                _log(f"{family.name}: left out of the page: {type(exc).__name__}: {str(exc)[:200]}")
        parts.append(render_own(self.own, openmetrics))
        # the exporter process' own health (process_*, python_*), from prometheus_client
        if openmetrics:
            parts.append(generate_openmetrics(REGISTRY).decode())  # ends with # EOF
        else:
            parts.append(generate_latest(REGISTRY).decode())
        body = "".join(parts).encode()
        self._rendered[key] = body
        return body


def _log(message: str, level: int = logging.WARNING) -> None:
    log(level, message)  # redacted: an upstream's error body may echo the access token


class Exporter:
    """Builds the /metrics page. ``scrape(openmetrics, gzipped, scrape_timeout)`` -> bytes."""

    def __init__(self, config: ExporterConfig, probes: bool = True) -> None:
        self.config = config
        self._upstreams: dict[str, Upstream] = {}
        if config.triton_passthrough:
            self._upstreams[TRITON] = Upstream(TRITON, self._fetch_text(TRITON, config.triton_metrics_url))
        self._upstreams[TRITON_API] = Upstream(TRITON_API, self._fetch_api)
        if config.dcgm_url:
            self._upstreams[DCGM] = Upstream(DCGM, self._fetch_text(DCGM, config.dcgm_url))
        self._api_local = threading.local()
        self._closing = threading.Event()  # set by close(): every upstream read under way gives up
        self._errors: dict[tuple[str, str], int] = {
            (name, reason): 0 for name in self._upstreams for reason in REASONS
        }
        self._parse_errors: dict[str, int] = dict.fromkeys(self._upstreams, 0)
        self._xids = dcgm.XidCounter()
        self._state_lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._building: Future | None = None
        self.prober = (
            Prober(config.probes, config.triton_url, config.access_token)
            if probes and config.probes.enabled
            else None
        )
        self._logged: dict[tuple[str, str], str] = {}
        # model versions named by Triton's /metrics: found there when the API's index is guarded
        self._metric_models = discovery.MetricModels(
            lambda timeout: fetch_text(config.triton_metrics_url, timeout, config.max_body_bytes)
        )
        if self.prober is not None:
            self.prober.known_models = lambda: self._metric_models.latest() or self._metric_models.current(
                None, time.monotonic() + config.probes.timeout_s)
        self._build_info = label_text(build_labels())

    def start(self) -> None:
        if self.prober is not None:
            self.prober.start()

    def close(self) -> None:
        """Stops the prober and the upstream workers: a read under way gives up within a fraction of
        a second (so that a shutdown never waits on an upstream), and close waits for that."""
        self._closing.set()
        if self.prober is not None:
            self.prober.stop()
        for upstream in self._upstreams.values():
            upstream.close(wait_s=1.0)

    # --- upstream jobs (each runs on its upstream's worker thread) -------------------------------
    def _fetch_text(self, name: str, url: str) -> Callable[[float], Result]:
        def job(timeout: float) -> Result:
            # one deadline for the fetch, the scan and (dcgm) the decoding: past it, `timeout`
            deadline = time.monotonic() + timeout
            result = text_result(name, fetch_text(url, timeout, self.config.max_body_bytes, deadline=deadline,
                                                  cancel=self._closing), deadline)
            if name == DCGM:
                result.decoded = dcgm.decode(result.scan.families, self.config.dcgm_drop_labels, deadline)
                result.parse_errors += result.decoded.bad_values
                result.families = gpu_families(result.decoded, deadline)
            return result

        return job

    def _fetch_api(self, timeout: float) -> Result:
        # One client per worker thread for good, whatever timeout this scraper asked for: its model
        # config cache must not be rebuilt when scrapers with other timeouts take turns (the scrape's
        # own deadline is kept by _build, which does not wait for a late answer).
        api = getattr(self._api_local, "api", None)
        if api is None:
            api = TritonApi(self.config.triton_url, self.config.timeout_s, self.config.access_token,
                            self.config.statistics, max_bytes=self.config.max_body_bytes, cancel=self._closing)
            self._api_local.api = api
        deadline = time.monotonic() + timeout
        triton = self._upstreams.get(TRITON)
        snap = api.snapshot(known=lambda: self._metric_models.current(
            triton.pending() if triton is not None else None, deadline), deadline=deadline)
        down = discovery.api_down(snap)
        if down is not None:  # answered, but nothing a Triton says: HTTP 500 to everything is not up
            raise ApiError(*down)
        return Result(TRITON_API, True, 0.0, api=snap, parse_errors=snap.bad_values)

    # --- scrape -----------------------------------------------------------------------------
    def scrape(self, openmetrics: bool = False, gzipped: bool = False, scrape_timeout: float | None = None) -> bytes:
        return self.snapshot(scrape_timeout).body(openmetrics, gzipped)

    def snapshot(self, scrape_timeout: float | None = None) -> Snapshot:
        """The current snapshot: built by this caller, or shared with a build already under way."""
        with self._build_lock:
            owner = self._building is None
            if owner:
                self._building = Future()
            pending = self._building
        if not owner:
            return pending.result()
        try:
            snap = self._build(self._timeout(scrape_timeout))
            pending.set_result(snap)
            return snap
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._build_lock:
                self._building = None

    def _timeout(self, scrape_timeout: float | None) -> float:
        timeout = self.config.timeout_s
        if scrape_timeout and scrape_timeout > 0:
            timeout = min(timeout, max(0.1, scrape_timeout - _MARGIN_S))
        return timeout

    def _build(self, timeout: float) -> Snapshot:
        deadline = time.monotonic() + timeout
        futures: dict[str, Future | None] = {}
        for name, upstream in self._upstreams.items():
            try:
                futures[name] = upstream.start(timeout)
            except RuntimeError:  # shut down (the exporter is closing): no fetch any more
                futures[name] = None
        results: dict[str, Result] = {}
        for name, pending in futures.items():
            try:
                if pending is None:
                    raise CancelledError
                results[name] = pending.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                results[name] = Result(name, False, timeout, ("timeout", f"no answer within {timeout:g}s"))
            except CancelledError:
                results[name] = Result(name, False, 0.0, ("timeout", "cancelled: the exporter is shutting down"))
        return self.assemble(results)

    def assemble(self, results: dict[str, Result]) -> Snapshot:
        """The snapshot for what the upstreams answered (all the work of a scrape but the fetches)."""
        dcgm_result = results.get(DCGM)
        decoded = dcgm_result.decoded if dcgm_result is not None else None
        if decoded is None and dcgm_result is not None and dcgm_result.scan is not None:
            decoded = self._guarded(DCGM, lambda: dcgm.decode(dcgm_result.scan.families, self.config.dcgm_drop_labels),
                                    None)
            if decoded is not None:
                dcgm_result.parse_errors += decoded.bad_values
        derived = self._derived_families(results, decoded)  # before _account: it counts their failures
        self._account(results)
        if decoded is not None:
            self._xids.observe(decoded.xid_last)
        return Snapshot(results, self._passthrough(results), self._own_families(results, derived))

    def _guarded(self, upstream: str, build: Callable[[], object], default: object) -> object:
        """``build()``, or ``default`` when it raises: a decoding bug or a value nobody foresaw costs
        the series derived from that upstream's answer (counted as a parse error), never the page."""
        try:
            return build()
        except Exception as exc:  # noqa: BLE001 - the guard of every derivation
            with self._state_lock:
                self._parse_errors[upstream] = self._parse_errors.get(upstream, 0) + 1
                self._log_change(upstream + ":derive", f"{upstream}: derived series left out: "
                                                       f"{type(exc).__name__}: {str(exc)[:200]}")
            return default

    def _account(self, results: dict[str, Result]) -> None:
        with self._state_lock:
            for name, result in results.items():
                if result.error is not None:
                    self._errors[(name, result.error[0])] = self._errors.get((name, result.error[0]), 0) + 1
                    self._log_change(name, f"{name} upstream down: {result.error[0]}: {result.error[1]}")
                else:
                    self._log_change(name, "")
                self._parse_errors[name] = self._parse_errors.get(name, 0) + result.parse_errors
                if result.scan is not None:
                    self._parse_errors[name] += result.scan.bad_lines
                    if result.scan.bad_lines:
                        self._log_change(name + ":parse", f"{name}: skipped {result.scan.bad_lines} bad lines, "
                                                          f"first: {result.scan.first_bad!r}")
                if result.api is not None:
                    for reason, detail in result.api.errors:
                        self._errors[(name, reason)] = self._errors.get((name, reason), 0) + 1
                        # keyed by the message: two partial failures per scrape are logged once each, not every scrape
                        self._log_change(f"{name}:partial:{reason}:{detail}", f"{name}: {reason}: {detail}")

    def _log_change(self, key: str, message: str) -> None:
        """Log a state once when it starts (and when it ends), not at every scrape."""
        if self._logged.get(key, "") != message:
            if message:
                _log(message)
            elif self._logged.get(key):
                _log(f"{key} upstream back up", logging.INFO)
            self._logged[key] = message

    def _passthrough(self, results: dict[str, Result]) -> list[tuple[Family, frozenset[str]]]:
        families: list[tuple[Family, frozenset[str]]] = []
        for name, enabled, drop in (
            (TRITON, self.config.triton_passthrough, self.config.triton_drop_labels),
            (DCGM, self.config.dcgm_passthrough, self.config.dcgm_drop_labels),
        ):
            result = results.get(name)
            if not enabled or result is None or result.scan is None:
                continue
            prefixes = PASSTHROUGH_PREFIXES[name]
            families.extend((family, drop) for family in result.scan.families if family.name.startswith(prefixes))
        return families

    # --- our own families ------------------------------------------------------------------------
    def _derived_families(self, results: dict[str, Result], decoded: dcgm.Decoded | None) -> list[OwnFamily]:
        """The families made from the upstreams' answers, each one guarded on its own."""
        families: list[OwnFamily] = []
        api = results.get(TRITON_API)
        if api is not None and api.api is not None:
            families.extend(self._guarded(TRITON_API, lambda: model_families(api.api), []))
        gpu_info = self._guarded(TRITON_API, lambda: model_gpu_family(  # triton_api: always an upstream
            api.api if api is not None else None,
            results[TRITON].scan if TRITON in results and results[TRITON].scan is not None else None,
            decoded.gpu_uuid if decoded is not None else {},
        ), None)
        families.append(gpu_info or OwnFamily(names.MODEL_GPU_INFO, "gauge",
                                              "Which GPU runs a model version (always 1): join DCGM series on UUID."))
        dcgm_result = results.get(DCGM)
        if dcgm_result is not None and dcgm_result.families is not None:
            families.extend(dcgm_result.families)
        elif decoded is not None:
            families.extend(self._guarded(DCGM, lambda: gpu_families(decoded), []))
        return families

    def _own_families(self, results: dict[str, Result], derived: list[OwnFamily]) -> list[OwnFamily]:
        families = self._health_families(results)
        families.extend(derived)
        xid = OwnFamily(counter_family(names.GPU_XID_ERRORS), "counter",
                        f"XID errors seen, per XID code (decoded from {names.DCGM_XID_ERRORS}, the last code).")
        for series in self._xids.counts():
            xid.add(label_text(series.labels), series.value, "_total")
        families.append(xid)
        if self.prober is not None:
            families.extend(self.prober.stats.families())
        return families

    def _health_families(self, results: dict[str, Result]) -> list[OwnFamily]:
        up = OwnFamily(names.EXPORTER_UP, "gauge", "1 if the last fetch from the upstream succeeded, else 0.")
        duration = OwnFamily(names.EXPORTER_SCRAPE_DURATION, "gauge", "Time the last fetch from the "
                             "upstream took.")
        errors = OwnFamily(counter_family(names.EXPORTER_SCRAPE_ERRORS), "counter",
                           "Failed fetches from the upstream, by reason.")
        parse = OwnFamily(counter_family(names.EXPORTER_PARSE_ERRORS), "counter", "Lines of the upstream's answer "
                          "that were skipped as malformed.")
        for name, result in results.items():
            labels = f'{{upstream="{name}"}}'
            up.add(labels, 1.0 if result.up else 0.0)
            duration.add(labels, result.duration_s)
        build = OwnFamily(names.EXPORTER_BUILD_INFO, "gauge", "The exporter's version (always 1).")
        build.add(self._build_info, 1.0)
        with self._state_lock:
            for (name, reason), count in sorted(self._errors.items()):
                errors.add(f'{{upstream="{name}",reason="{reason}"}}', count, "_total")
            for name, count in sorted(self._parse_errors.items()):
                parse.add(f'{{upstream="{name}"}}', count, "_total")
        return [up, duration, errors, parse, build]


def text_result(name: str, text: str, deadline: float | None = None) -> Result:
    """A fetched /metrics body, scanned; a body with lines but none valid is an upstream failure.
    Past ``deadline`` TimeoutError (the upstream's job makes it ``timeout``)."""
    scanned = scan(text, deadline)
    if not scanned.families and scanned.bad_lines:
        raise FetchError("unparseable", f"{scanned.bad_lines} lines, none valid: {scanned.first_bad!r}")
    return Result(name, True, 0.0, scan=scanned)


def model_families(api: ApiSnapshot) -> list[OwnFamily]:
    live = OwnFamily(names.SERVER_LIVE, "gauge", "1 if Triton says it is live.")
    ready = OwnFamily(names.SERVER_READY, "gauge", "1 if Triton says it is ready.")
    live.add("", 1.0 if api.live else 0.0)
    ready.add("", 1.0 if api.ready else 0.0)
    model_ready = OwnFamily(names.MODEL_READY, "gauge", "1 if the model version is loaded and ready.")
    info = OwnFamily(names.MODEL_INFO, "gauge", "Config of a ready model version (always 1).")
    for state in api.models:
        model_ready.add(label_text((("model", state.model), ("version", state.version))), 1.0 if state.ready else 0.0)
    for (model, version), config in sorted(api.configs.items()):
        info.add(label_text((
            ("model", model), ("version", version), ("platform", config.platform), ("backend", config.backend),
            ("max_batch_size", str(config.max_batch_size)),
            ("dynamic_batching", "true" if config.dynamic_batching else "false"),
            ("instance_kind", config.instance_kind), ("instance_count", str(config.instance_count)),
        )), 1.0)
    last = OwnFamily(names.MODEL_LAST_INFERENCE, "gauge",
                     "When the model version last ran an inference (statistics extension).")
    batches = OwnFamily(counter_family(names.MODEL_BATCH_EXECUTIONS), "counter",
                        "Executions per batch size (statistics extension; resets when the model reloads).")
    for stats in api.stats:
        labels = (("model", stats.model), ("version", stats.version))
        if stats.last_inference_s > 0:
            last.add(label_text(labels), stats.last_inference_s)
        for size, count in sorted(stats.batch_executions.items()):
            batches.add(label_text((*labels, ("batch_size", str(size)))), count, "_total")
    return [live, ready, model_ready, info, last, batches]


def model_gpu_family(api: ApiSnapshot | None, triton: Scan | None, index_by_uuid: dict[str, str]) -> OwnFamily:
    """(model, version) -> (gpu, UUID), for joining DCGM series to models in PromQL.

    Triton's own per-model series carry ``gpu_uuid`` when an instance runs on a GPU: those win.
    Otherwise the instance groups of the model config give CUDA device indexes, mapped to UUIDs
    with dcgm-exporter's gpu/UUID pairs (the index is as Triton sees it: CUDA_VISIBLE_DEVICES can
    renumber devices, which is why the metrics' UUIDs are preferred), or, without them, with the
    UUID of Triton's own ``nv_gpu_*`` series when Triton sees a single GPU. (Triton 2.51 writes no
    per-model ``gpu_uuid``: on it the config path is the one that works.)
    """
    family = OwnFamily(names.MODEL_GPU_INFO, "gauge",
                       "Which GPU runs a model version (always 1): join DCGM series on UUID.")
    pairs: dict[tuple[str, str], set[tuple[str, str]]] = {}
    if triton is not None:
        # every per-model family carries the same model/GPU pairs: the first one with samples is enough
        first = next((f for f in triton.families if f.name.startswith(names.TRITON_INFERENCE_PREFIX) and f.count), None)
        if first is not None:
            for line in first.lines:
                if _GPU_UUID_PAIR not in line:
                    continue
                labels = parse_labels(line[line.find("{"): line.rfind("}") + 1])
                uuid = labels.get(names.LABEL_GPU_UUID)
                if uuid and "model" in labels:
                    key = (labels["model"], labels.get("version", ""))
                    pairs.setdefault(key, set()).add((index_by_uuid.get(uuid, ""), uuid))
    if api is not None:
        uuid_by_index = {index: uuid for uuid, index in index_by_uuid.items()}
        only = _only_gpu_uuid(triton)
        if only and "0" not in uuid_by_index:  # Triton sees one GPU: its device 0 is that one
            uuid_by_index["0"] = only
        for key, config in api.configs.items():
            if key not in pairs and config.gpus:
                pairs[key] = {(str(g), uuid_by_index.get(str(g), "")) for g in config.gpus}
    for (model, version), gpus in sorted(pairs.items()):
        for gpu, uuid in sorted(gpus):
            family.add(label_text(((names.LABEL_MODEL, model), (names.LABEL_VERSION, version), (names.LABEL_GPU, gpu),
                                   (names.LABEL_UUID, uuid))), 1.0)
    return family


def _only_gpu_uuid(triton: Scan | None) -> str:
    """The UUID of Triton's GPU when its own nv_gpu_* series name exactly one (else "")."""
    if triton is None:
        return ""
    uuids = set()
    for family in triton.families:
        if family.name.startswith(names.TRITON_GPU_PREFIX) and family.count:
            for line in family.lines:
                if _GPU_UUID_PAIR in line:
                    uuids.add(parse_labels(line[line.find("{"): line.rfind("}") + 1]).get(names.LABEL_GPU_UUID, ""))
    return uuids.pop() if len(uuids) == 1 else ""


def gpu_families(decoded: dcgm.Decoded, deadline: float | None = None) -> list[OwnFamily]:
    """The decoded DCGM families, written; past ``deadline`` TimeoutError (a page of 100k GPUs'
    masks is 900k lines: writing them is part of that upstream's cost, not the page's)."""
    throttle = OwnFamily(names.GPU_THROTTLE_ACTIVE, "gauge",
                         "1 while the GPU clocks are held back for this reason (decoded throttle bitmask).")
    for done, series in enumerate(decoded.throttle):
        if deadline is not None and not done & 4095 and time.monotonic() > deadline:
            raise TimeoutError(f"writing the decoded series past the deadline ({done} written)")
        throttle.add(label_text(series.labels), series.value)
    headroom = OwnFamily(names.GPU_MEMORY_HEADROOM, "gauge",
                         "Free framebuffer over all framebuffer (free + used + reserved), 0..1.")
    for series in decoded.headroom:
        headroom.add(label_text(series.labels), series.value)
    return [throttle, headroom]
