"""A load generator: drives one model through tritonclient at a set rate and batch size.

Thread-based and bounded: at most ``threads`` requests in flight, requests are paced on a fixed
schedule (``rate_per_s``), and it stops by itself after ``duration_s`` (or on ``stop()``).
Inputs are real digits (the training part of the split, never the golden set) unless given.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from harness.stack.models import INPUT_NAME, OUTPUT_NAME

MAX_DURATION_S = 3600.0
MAX_THREADS = 32


@dataclass
class LoadStats:
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the first few error messages

    def quantile(self, q: float) -> float | None:
        return float(np.quantile(self.latencies_s, q)) if self.latencies_s else None


class LoadGenerator:
    """``with LoadGenerator(triton.http_url, "resnet_baseline", 20, 8, duration_s=10) as load: load.wait()``."""

    def __init__(
        self,
        http_url: str,
        model: str,
        rate_per_s: float,
        batch_size: int,
        duration_s: float,
        threads: int = 2,
        inputs: np.ndarray | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if not 0 < rate_per_s <= 10_000:
            raise ValueError(f"rate_per_s must be in (0, 10000], got {rate_per_s}")
        if not 0 < duration_s <= MAX_DURATION_S:
            raise ValueError(f"duration_s must be in (0, {MAX_DURATION_S:g}], got {duration_s}")
        if not 1 <= threads <= MAX_THREADS:
            raise ValueError(f"threads must be in [1, {MAX_THREADS}], got {threads}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.address = http_url.split("://", 1)[-1].rstrip("/")
        self.model = model
        self.rate_per_s = rate_per_s
        self.batch_size = batch_size
        self.duration_s = duration_s
        self.threads = threads
        self.timeout_s = timeout_s
        self._inputs = inputs
        self.stats = LoadStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next_slot = 0
        self._workers: list[threading.Thread] = []
        self._t0 = 0.0

    def start(self) -> LoadGenerator:
        if self._inputs is None:
            from harness.stack.models import load_digits_split

            self._inputs = load_digits_split().train_x
        self._t0 = time.monotonic()
        self._workers = [
            threading.Thread(target=self._run, name=f"load-{self.model}-{i}", daemon=True) for i in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def _take_slot(self) -> float | None:
        """The send time of the next request, or None when the run is over.

        Over means the schedule is exhausted or the duration has passed: a server slower than
        the rate leaves slots unsent rather than stretching the run.
        """
        with self._lock:
            due = self._t0 + self._next_slot / self.rate_per_s
            end = self._t0 + self.duration_s
            if due >= end or time.monotonic() >= end:
                return None
            self._next_slot += 1
            return due

    def _batch(self, slot: int) -> np.ndarray:
        assert self._inputs is not None
        start = (slot * self.batch_size) % len(self._inputs)
        idx = np.arange(start, start + self.batch_size) % len(self._inputs)
        return np.ascontiguousarray(self._inputs[idx], dtype=np.float32)

    def _run(self) -> None:
        import tritonclient.http as httpclient

        client = httpclient.InferenceServerClient(
            self.address, connection_timeout=self.timeout_s, network_timeout=self.timeout_s
        )
        try:
            while not self._stop.is_set():
                due = self._take_slot()
                if due is None:
                    return
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                batch = self._batch(int((due - self._t0) * self.rate_per_s))
                request = httpclient.InferInput(INPUT_NAME, list(batch.shape), "FP32")
                request.set_data_from_numpy(batch)
                began = time.monotonic()
                try:
                    client.infer(self.model, [request], outputs=[httpclient.InferRequestedOutput(OUTPUT_NAME)])
                except Exception as exc:  # noqa: BLE001 - every failure is a data point here
                    self._record(False, time.monotonic() - began, str(exc))
                else:
                    self._record(True, time.monotonic() - began, None)
        finally:
            client.close()

    def _record(self, ok: bool, latency: float, error: str | None) -> None:
        with self._lock:
            self.stats.sent += 1
            if ok:
                self.stats.succeeded += 1
                self.stats.latencies_s.append(latency)
            else:
                self.stats.failed += 1
                if len(self.stats.errors) < 5 and error:
                    self.stats.errors.append(error)

    def wait(self, timeout: float | None = None) -> LoadStats:
        """Wait until the run is over (duration plus the last requests' timeout at most)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.duration_s + self.timeout_s + 5)
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return self.stats

    def stop(self) -> LoadStats:
        self._stop.set()
        for worker in self._workers:
            worker.join(self.timeout_s + 5)
        return self.stats

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
