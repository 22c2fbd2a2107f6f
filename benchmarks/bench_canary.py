"""Canary judge vs Kayenta's rule on the same simulated canaries.

    .venv/bin/python benchmarks/bench_canary.py [--runs 1000] [--seed 1]

Prints, side by side, how often each rule says FAIL / MARGINAL / INCONCLUSIVE / PASS:

1. identical arms (A/A), six metrics: false FAIL rate (target <= alpha, 5%);
2. the same with --watch and 10 looks (anytime-valid) and, for contrast, naive peeking;
3. latency +20% (log-normal, 2000 requests per arm): FAIL rate (target >= 95%);
4. error ratio 0.1% -> 0.5% (20000 requests per arm): FAIL rate (target >= 95%);
5. Kayenta's known failures turned around: 7 of 10 points at 100x; 20 requests per arm from one
   distribution; a baseline without data.

Kayenta gets each metric the way it queries it: 20 per-interval points per arm (means of the
interval's requests, or its bad ratio). Timings are wall-clock seconds in this process.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness

from harness.canary import kayenta  # noqa: E402
from harness.canary import simulate as sim  # noqa: E402
from triton_slo.canary.judge import Counts, MetricInput, Samples, Watch, judge, resolve_config  # noqa: E402

VERDICTS = ("FAIL", "MARGINAL", "INCONCLUSIVE", "PASS")


def rates(verdicts) -> str:
    counts = Counter(str(v) for v in verdicts)
    total = max(sum(counts.values()), 1)
    return "  ".join(f"{v} {100 * counts[v] / total:5.1f}%" for v in VERDICTS)


def kayenta_verdicts(arms: sim.Arms, runs: int) -> list[str]:
    out = []
    for run in range(runs):
        series = sim.kayenta_series(arms, run)
        classes = {name: kayenta.classify(b, c) for name, (b, c) in series.items()}
        out.append(kayenta.verdict(classes, sim.CRITICAL))
    return out


def compare(title: str, arms: sim.Arms, runs: int, kayenta_runs: int) -> dict[str, float]:
    t0 = time.perf_counter()
    ours = judge(sim.inputs_at(arms)).verdict
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = kayenta_verdicts(arms, kayenta_runs)
    t_kayenta = time.perf_counter() - t0
    print(f"\n{title}")
    print(f"  ours    ({runs} runs, {t_ours:6.2f} s): {rates(ours)}")
    print(f"  Kayenta ({kayenta_runs} runs, {t_kayenta:6.2f} s): {rates(theirs)}")
    per_run = (t_ours / runs) / (t_kayenta / max(kayenta_runs, 1)) if t_kayenta else float("nan")
    print(f"  time per run, ours / Kayenta's: {per_run:.3f}")
    return {"ours_fail": float(np.mean(ours == "FAIL")), "kayenta_fail": theirs.count("FAIL") / max(len(theirs), 1)}


def watch(arms: sim.Arms, runs: int) -> tuple[float, float]:
    """False FAIL rate over 10 looks: anytime-valid (--watch) vs re-running the fixed test each look."""
    w = Watch()
    ever_any = np.zeros(runs, bool)
    ever_naive = np.zeros(runs, bool)
    for look in range(1, arms.looks + 1):
        inputs = sim.inputs_at(arms, look)
        ever_any |= judge(inputs, watch=w).verdict == "FAIL"
        ever_naive |= judge(inputs).verdict == "FAIL"
    return float(ever_any.mean()), float(ever_naive.mean())


def kayenta_failures(rng: np.random.Generator, runs: int) -> None:
    print("\nKayenta's known failures, turned around")
    base, canary = np.ones(10), np.array([1.0] * 3 + [100.0] * 7)
    ours = judge([MetricInput(resolve_config("latency_ms"), Samples(base[None], canary[None]))]).verdict[0]
    theirs = kayenta.verdict({"latency_ms": kayenta.classify(base, canary)}, {"latency_ms"})
    print(f"  7 of 10 points at 100x vs 10 at 1x:         ours {ours:12s} Kayenta {theirs}")

    b = rng.lognormal(np.log(20), 0.5, (runs, 20))
    c = rng.lognormal(np.log(20), 0.5, (runs, 20))
    ours_small = judge([MetricInput(resolve_config("latency_ms"), Samples(b, c))]).verdict
    theirs_small = [kayenta.verdict({"latency_ms": kayenta.classify(b[i], c[i])}, {"latency_ms"})
                    for i in range(runs)]
    print(f"  20 requests per arm, same distribution ({runs} runs):")
    print(f"    ours:    {rates(ours_small)}")
    print(f"    Kayenta: {rates(theirs_small)}")

    lat = rng.lognormal(np.log(20), 0.5, (2, 2000))
    inputs = [
        MetricInput(resolve_config("latency_ms"), Samples(lat[:1], lat[1:])),
        MetricInput(resolve_config("error_ratio", counts=True), Counts(None, (np.array([3.0]), np.array([20000.0])))),
    ]
    ours_nodata = judge(inputs).verdict[0]
    lat_b, lat_c = lat[0].reshape(20, -1).mean(axis=1), lat[1].reshape(20, -1).mean(axis=1)
    theirs_nodata = kayenta.verdict({"latency_ms": kayenta.classify(lat_b, lat_c),
                                     "error_ratio": kayenta.classify(np.array([]), np.full(20, 3 / 20000))})
    print(f"  baseline error series absent (latency fine): ours {ours_nodata:12s} Kayenta {theirs_nodata}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--kayenta-runs", type=int, default=None, help="runs for Kayenta's rule (default --runs)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    runs, k_runs = args.runs, args.kayenta_runs or args.runs
    rng = np.random.default_rng(args.seed)

    aa = compare("A/A: identical arms, six metrics (target: ours FAIL <= 5%)", sim.draw(rng, runs, sim.Scenario()),
                 runs, k_runs)
    any_rate, naive_rate = watch(sim.draw(rng, runs, sim.Scenario(), looks=10), runs)
    print("\nA/A with --watch, 10 looks (target: FAIL <= 5%)")
    print(f"  ours, anytime-valid: FAIL at some look {100 * any_rate:5.1f}%")
    print(f"  ours, fixed tests re-run at every look (naive peeking): {100 * naive_rate:5.1f}%")
    lat = compare("latency +20% (log-normal, 2000 requests per arm; target: FAIL >= 95%)",
                  sim.draw(rng, runs, sim.Scenario(latency_factor=1.2)), runs, k_runs)
    err = compare("error ratio 0.1% -> 0.5% (20000 requests per arm; target: FAIL >= 95%)",
                  sim.draw(rng, runs, sim.Scenario(error_canary=0.005)), runs, k_runs)
    kayenta_failures(rng, runs)

    ok = aa["ours_fail"] <= 0.05 and any_rate <= 0.05 and lat["ours_fail"] >= 0.95 and err["ours_fail"] >= 0.95
    print(f"\nfigures reached: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
