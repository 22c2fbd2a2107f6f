"""Which models there are when Triton's HTTP API will not say, and whether the API is up at all.

The repository index and the statistics extension are how the exporter finds models. A server may
guard both (PyTriton without its access token: 401/403) or lack them (404). Triton's own /metrics
still names every loaded model version in the labels of its ``nv_inference_*`` series: those are
asked one by one for readiness (``/v2/models/M/versions/V/ready``, open without the token), probed,
and reported like the others. Why the API was not used is counted in
``triton_slo_scrape_errors_total{upstream="triton_api",reason}`` (``unauthorized``, ``not_found``, ...).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from triton_slo import names
from triton_slo.exporters.textparse import Scan, parse_labels, scan
from triton_slo.exporters.triton_api import ApiSnapshot

# Families every loaded model version has a sample in; the first one present is read.
_MODEL_FAMILIES = (names.TRITON_REQUEST_SUCCESS, names.TRITON_INFERENCE_COUNT, names.TRITON_EXEC_COUNT,
                   names.TRITON_REQUEST_FAILURE)
_MODEL_PAIR = 'model="'

ModelKey = tuple[str, str]


def metric_models(scanned: Scan | None) -> frozenset[ModelKey]:
    """(model, version) pairs named in Triton's per-model series (one family is enough: every
    per-model family names the same versions)."""
    if scanned is None:
        return frozenset()
    by_name = {f.name: f for f in scanned.families if f.name.startswith(names.TRITON_INFERENCE_PREFIX) and f.count}
    family = next((by_name[n] for n in _MODEL_FAMILIES if n in by_name), None)
    if family is None:
        family = next(iter(by_name.values()), None)
    if family is None:
        return frozenset()
    found: set[ModelKey] = set()
    for line in family.lines:
        if _MODEL_PAIR not in line:
            continue
        labels = parse_labels(line[line.find("{"): line.rfind("}") + 1])
        model = labels.get(names.LABEL_MODEL, "")
        if model:
            found.add((model, labels.get(names.LABEL_VERSION, "")))
    return frozenset(found)


class MetricModels:
    """The model versions Triton's /metrics named last, shared by the API job and the prober."""

    def __init__(self, fetch: Callable[[float], str] | None = None) -> None:
        self._fetch = fetch  # GET Triton's /metrics (timeout -> text): when nothing else reads it
        self._latest: frozenset[ModelKey] = frozenset()
        self._lock = threading.Lock()

    def latest(self) -> frozenset[ModelKey]:
        with self._lock:
            return self._latest

    def observe(self, scanned: Scan | None) -> frozenset[ModelKey]:
        found = metric_models(scanned)
        if scanned is not None:
            with self._lock:
                self._latest = found
        return self.latest()

    def current(self, pending: Future | None, deadline: float) -> frozenset[ModelKey]:
        """This round's answer of the Triton /metrics fetch under way (``pending``) if it comes
        before ``deadline``; without one, a fetch of our own; else what was seen last."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return self.latest()
        if pending is not None:
            try:
                result = pending.result(timeout=remaining)
            except (FutureTimeout, Exception):  # noqa: BLE001 - a failed fetch: keep what was known
                return self.latest()
            return self.observe(getattr(result, "scan", None))
        if self._fetch is None:
            return self.latest()
        try:
            return self.observe(scan(self._fetch(remaining)))
        except Exception:  # noqa: BLE001 - FetchError and the like: keep what was known
            return self.latest()


def api_down(snap: ApiSnapshot) -> tuple[str, str] | None:
    """(reason, detail) when the API answered nothing a Triton would: not live, not ready, and
    every other call failed (a server answering HTTP 500 to everything). ``None``: it is up."""
    if snap.live or snap.ready or not snap.errors or snap.stats:
        return None
    reason, detail = snap.errors[0]
    return reason, f"health says not live and not ready, and every call failed; first: {detail}"
