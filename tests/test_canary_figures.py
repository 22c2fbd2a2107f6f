"""The issue's figures on a small scale (the full 1000-run version is benchmarks/bench_canary.py)."""

from __future__ import annotations

import numpy as np
from harness.canary import kayenta
from harness.canary import simulate as sim
from triton_slo.canary.judge import Counts, MetricInput, Samples, Watch, judge, resolve_config

RUNS = 200


def test_identical_arms_rarely_fail_also_when_watched():
    rng = np.random.default_rng(101)
    verdicts = judge(sim.inputs_at(sim.draw(rng, RUNS, sim.Scenario()))).verdict
    assert (verdicts == "FAIL").mean() <= 0.05
    assert not (verdicts == "PASS").all()  # a check that cannot fail would also never be unsure
    arms = sim.draw(rng, RUNS, sim.Scenario(), looks=10)
    watch, ever = Watch(), np.zeros(RUNS, bool)
    for look in range(1, 11):
        ever |= judge(sim.inputs_at(arms, look), watch=watch).verdict == "FAIL"
    assert ever.mean() <= 0.05


def test_latency_shift_and_error_increase_fail():
    rng = np.random.default_rng(102)
    latency = judge(sim.inputs_at(sim.draw(rng, RUNS, sim.Scenario(latency_factor=1.2))))
    assert (latency.verdict == "FAIL").mean() >= 0.95
    assert (latency.metric_verdicts["latency_ms"] == "FAIL").mean() >= 0.95
    errors = judge(sim.inputs_at(sim.draw(rng, RUNS, sim.Scenario(error_canary=0.005))))
    assert (errors.verdict == "FAIL").mean() >= 0.95


def test_a_watched_regression_is_still_caught():
    rng = np.random.default_rng(103)
    arms = sim.draw(rng, RUNS, sim.Scenario(error_canary=0.005), looks=10)
    watch, ever = Watch(), np.zeros(RUNS, bool)
    for look in range(1, 11):
        ever |= judge(sim.inputs_at(arms, look), watch=watch).verdict == "FAIL"
    assert ever.mean() >= 0.95


def test_kayentas_known_failures_turned_around():
    base, canary = np.ones(10), np.array([1.0] * 3 + [100.0] * 7)
    ours = judge([MetricInput(resolve_config("latency_ms"), Samples(base[None], canary[None]))])
    assert ours.verdict[0] == "FAIL"
    assert kayenta.classify(base, canary) == "Pass"  # the re-implementation shows the known failure

    rng = np.random.default_rng(104)
    b, c = rng.lognormal(3, 0.5, (RUNS, 20)), rng.lognormal(3, 0.5, (RUNS, 20))
    small = judge([MetricInput(resolve_config("latency_ms"), Samples(b, c))]).verdict
    assert not (small == "PASS").any() and (small == "INCONCLUSIVE").mean() >= 0.95

    no_baseline = [MetricInput(resolve_config("error_ratio", counts=True),
                               Counts(None, (np.array([0.0]), np.array([50000.0]))))]
    assert judge(no_baseline).verdict[0] != "PASS"
