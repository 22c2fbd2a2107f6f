"""Simulated canaries for the benchmark and the tests: six metrics per run, many runs at once.

The metrics resemble a Triton service's: per-request latency (log-normal), request error counts,
golden-set correctness paired by item, a GPU memory gauge paired by time, NaN/Inf output counts
and probe error counts. Data come out as the judge's arrays with a leading runs axis, and as the
per-interval time series a Kayenta-style judge would query (what Prometheus gives it per step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from triton_slo.canary.judge import Counts, MetricInput, Samples, resolve_config

LATENCY_N = 2000  # requests per arm
ERROR_N = 20000
GOLDEN_N = 1000
MEMORY_POINTS = 120
PROBE_N = 2000
NONFINITE_N = 1000
INTERVALS = 20  # Kayenta sees each metric as this many points per arm


@dataclass
class Scenario:
    latency_factor: float = 1.0
    error_baseline: float = 0.001
    error_canary: float = 0.001
    latency_sigma: float = 0.5
    latency_median_ms: float = 20.0


@dataclass
class Arms:
    """Raw draws for `runs` runs: arrays of shape (runs, n) or (runs, looks) for counts per look."""

    latency: tuple[np.ndarray, np.ndarray]
    errors: tuple[np.ndarray, np.ndarray]  # bad per look, (runs, looks)
    golden: tuple[np.ndarray, np.ndarray]
    memory: tuple[np.ndarray, np.ndarray]
    nonfinite: tuple[np.ndarray, np.ndarray]
    probe: tuple[np.ndarray, np.ndarray]
    looks: int


def draw(rng: np.random.Generator, runs: int, scenario: Scenario, looks: int = 1) -> Arms:
    s = scenario
    mu = np.log(s.latency_median_ms)
    lat_b = rng.lognormal(mu, s.latency_sigma, (runs, LATENCY_N))
    lat_c = rng.lognormal(mu, s.latency_sigma, (runs, LATENCY_N)) * s.latency_factor
    err_b = rng.binomial(ERROR_N // looks, s.error_baseline, (runs, looks))
    err_c = rng.binomial(ERROR_N // looks, s.error_canary, (runs, looks))
    difficulty = rng.beta(9, 1, (runs, GOLDEN_N))
    gold_b = (rng.random((runs, GOLDEN_N)) < difficulty).astype(float)
    gold_c = (rng.random((runs, GOLDEN_N)) < difficulty).astype(float)
    # Memory: a shared load-driven swing (AR(1)) seen by both arms, plus each arm's own noise.
    load = np.zeros((runs, MEMORY_POINTS))
    shocks = rng.normal(0, 1, (runs, MEMORY_POINTS))
    for t in range(1, MEMORY_POINTS):
        load[:, t] = 0.9 * load[:, t - 1] + shocks[:, t] * np.sqrt(1 - 0.81)
    mem_b = 4e9 * (1 + 0.02 * load + 0.005 * rng.normal(0, 1, (runs, MEMORY_POINTS)))
    mem_c = 4e9 * (1 + 0.02 * load + 0.005 * rng.normal(0, 1, (runs, MEMORY_POINTS)))
    nan_b = np.zeros((runs, looks))
    nan_c = np.zeros((runs, looks))
    probe_b = rng.binomial(PROBE_N // looks, 0.002, (runs, looks))
    probe_c = rng.binomial(PROBE_N // looks, 0.002, (runs, looks))
    return Arms((lat_b, lat_c), (err_b, err_c), (gold_b, gold_c), (mem_b, mem_c), (nan_b, nan_c),
                (probe_b, probe_c), looks)


def _prefix(x: np.ndarray, look: int, looks: int) -> np.ndarray:
    return x[:, : x.shape[1] * look // looks]


def _counts(bad: tuple[np.ndarray, np.ndarray], per_look: int, look: int) -> Counts:
    def arm(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return b[:, :look].sum(axis=1).astype(float), np.full(b.shape[0], float(per_look * look))

    return Counts(arm(bad[0]), arm(bad[1]))


def inputs_at(arms: Arms, look: int | None = None) -> list[MetricInput]:
    """The six metrics as the judge takes them, with the data seen by look ``look`` (1..looks)."""
    k, looks = look or arms.looks, arms.looks

    def samples(pair: tuple[np.ndarray, np.ndarray]) -> Samples:
        return Samples(_prefix(pair[0], k, looks), _prefix(pair[1], k, looks))

    return [
        MetricInput(resolve_config("latency_ms"), samples(arms.latency)),
        MetricInput(resolve_config("error_ratio", counts=True), _counts(arms.errors, ERROR_N // looks, k)),
        MetricInput(resolve_config("golden_accuracy"), samples(arms.golden), srm=False),
        MetricInput(resolve_config("gpu_memory_bytes"), samples(arms.memory), srm=False),
        MetricInput(resolve_config("nonfinite_outputs", counts=True),
                    _counts(arms.nonfinite, NONFINITE_N // looks, k), srm=False),
        MetricInput(resolve_config("probe_error_ratio", counts=True), _counts(arms.probe, PROBE_N // looks, k)),
    ]


CRITICAL = {"latency_ms", "error_ratio", "golden_accuracy", "nonfinite_outputs", "probe_error_ratio"}


def kayenta_series(arms: Arms, run: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """What a Kayenta-style judge queries: each metric as INTERVALS points per arm (per-step values)."""

    def per_interval_mean(x: np.ndarray) -> np.ndarray:
        return x[: x.size // INTERVALS * INTERVALS].reshape(INTERVALS, -1).mean(axis=1)

    def per_interval_ratio(bad_total: np.ndarray, n: int, rng_seed: int) -> np.ndarray:
        # Spread the arm's bad events over the intervals as they would have arrived.
        rng = np.random.default_rng(rng_seed)
        bad = int(bad_total.sum())
        per = np.bincount(rng.integers(0, INTERVALS, bad), minlength=INTERVALS)
        return per / (n / INTERVALS)

    out = {}
    out["latency_ms"] = tuple(per_interval_mean(a[run]) for a in arms.latency)
    out["golden_accuracy"] = tuple(per_interval_mean(a[run]) for a in arms.golden)
    out["gpu_memory_bytes"] = (arms.memory[0][run], arms.memory[1][run])
    for name, pair, n in (("error_ratio", arms.errors, ERROR_N), ("nonfinite_outputs", arms.nonfinite, NONFINITE_N),
                          ("probe_error_ratio", arms.probe, PROBE_N)):
        out[name] = tuple(per_interval_ratio(a[run], n, run * 7 + i) for i, a in enumerate(pair))
    return out
