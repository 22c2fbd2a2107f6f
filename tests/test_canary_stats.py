"""The canary judge's statistics against scipy, brute-force likelihoods and published values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from harness.canary import kayenta
from scipy import optimize
from scipy import stats as sps
from triton_slo.canary import stats


def test_welch_difference_matches_scipy_ttest():
    rng = np.random.default_rng(3)
    b, c = rng.normal(10, 2, 40), rng.normal(11, 3, 55)
    est, se, df = stats.welch(b.size, b.mean(), b.var(ddof=1), c.size, c.mean(), c.var(ddof=1), log=False)
    above, below = stats.t_test(est, se, df, 0.0)
    assert float(above) == pytest.approx(sps.ttest_ind(c, b, equal_var=False, alternative="greater").pvalue)
    assert float(below) == pytest.approx(sps.ttest_ind(c, b, equal_var=False, alternative="less").pvalue)


def test_t_test_with_exact_estimate():
    above, below = stats.t_test([2.0, 0.0, 1.0], [0.0, 0.0, 0.0], np.inf, 1.0)
    assert list(above) == [0.0, 1.0, 0.5] and list(below) == [1.0, 0.0, 0.5]


def test_holm_step_down():
    reject = stats.holm(np.array([[0.01, 0.04, 0.03, 0.5], [0.001, 0.2, 0.3, 0.01]]), 0.05)
    # Row 1: 0.01 <= 0.05/4, then 0.03 > 0.05/3 stops. Row 2: 0.001 <= .0125, 0.01 <= .0167, 0.2 > .025.
    assert reject.tolist() == [[True, False, False, False], [True, False, False, True]]
    assert stats.holm(np.array([0.2, 0.01]), 0.05).tolist() == [False, True]


def _restricted_mle_z(x1, n1, x2, n2, delta):
    """Score statistic with the null-restricted MLE found numerically (p1 = p2 + delta)."""
    def nll(p2):
        p1 = p2 + delta
        return -(x1 * np.log(p1) + (n1 - x1) * np.log(1 - p1) + x2 * np.log(p2) + (n2 - x2) * np.log(1 - p2))
    lo, hi = max(0, -delta) + 1e-12, min(1, 1 - delta) - 1e-12
    p2 = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}).x
    p1 = p2 + delta
    return (x1 / n1 - x2 / n2 - delta) / math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)


@pytest.mark.parametrize("b,n_b,c,n_c,delta", [
    (20, 20000, 100, 20000, 0.001), (5, 300, 9, 250, 0.02), (40, 100, 30, 120, -0.05), (3, 1000, 0, 800, 0.002),
])
def test_farrington_manning_matches_numeric_restricted_mle(b, n_b, c, n_c, delta):
    above, _ = stats.proportion_difference_test(b, n_b, c, n_c, delta)
    assert float(above) == pytest.approx(sps.norm.sf(_restricted_mle_z(c, n_c, b, n_b, delta)), rel=1e-4, abs=1e-12)


def test_farrington_manning_at_zero_is_the_pooled_z_test():
    b, n_b, c, n_c = 30, 1000, 45, 1100
    pooled = (b + c) / (n_b + n_c)
    z = (c / n_c - b / n_b) / math.sqrt(pooled * (1 - pooled) * (1 / n_b + 1 / n_c))
    above, below = stats.proportion_difference_test(b, n_b, c, n_c, 0.0)
    assert float(above) == pytest.approx(sps.norm.sf(z)) and float(below) == pytest.approx(sps.norm.cdf(z))


def test_zero_events_can_be_shown_within_an_absolute_margin():
    _, within = stats.proportion_difference_test(0, 20000, 0, 20000, 0.001)
    assert float(within) < 0.001
    _, within_small = stats.proportion_difference_test(0, 50, 0, 50, 0.001)
    assert float(within_small) > 0.4  # 50 requests say nothing about a 0.1% margin


def test_newcombe_interval_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10.
    low, high = stats.newcombe_interval(48, 80, 56, 70, 0.95)
    assert float(low) == pytest.approx(0.0524, abs=1e-4) and float(high) == pytest.approx(0.3339, abs=1e-4)


def test_rate_ratio_is_scipys_binomial_test_on_the_split_of_events():
    b, n_b, c, n_c, ratio = 12, 10000, 30, 8000, 1.5
    above, below = stats.rate_ratio_test(b, n_b, c, n_c, math.log(ratio))
    pi = n_c * ratio / (n_b + n_c * ratio)
    assert float(above) == pytest.approx(sps.binomtest(c, b + c, pi, alternative="greater").pvalue)
    assert float(below) == pytest.approx(sps.binomtest(c, b + c, pi, alternative="less").pvalue)
    assert stats.rate_ratio_test(0, 100, 0, 100, 0.0) == (1.0, 1.0)


def test_rate_ratio_interval_inverts_the_test():
    b, n_b, c, n_c = 12, 10000, 30, 8000
    low, high = stats.rate_ratio_interval(b, n_b, c, n_c, 0.90)
    assert float(stats.rate_ratio_test(b, n_b, c, n_c, float(low))[0]) == pytest.approx(0.05, rel=1e-6)
    assert float(stats.rate_ratio_test(b, n_b, c, n_c, float(high))[1]) == pytest.approx(0.05, rel=1e-6)


def test_paired_test_at_zero_is_mcnemar_exact():
    above, below = stats.paired_proportion_test(15, 5, 1000, 0.0)
    assert float(above) == pytest.approx(sps.binomtest(15, 20, 0.5, alternative="greater").pvalue)
    assert float(below) == pytest.approx(sps.binomtest(15, 20, 0.5, alternative="less").pvalue)


@pytest.mark.parametrize("up,down,n,bound", [(30, 10, 500, 0.01), (10, 30, 500, -0.02), (5, 25, 400, -0.01)])
def test_tango_score_matches_numeric_restricted_mle(up, down, n, bound):
    def nll(p_down):
        p_up = p_down + bound
        return -(up * np.log(p_up) + down * np.log(p_down) + (n - up - down) * np.log(1 - p_up - p_down))
    lo = max(0.0, -bound) + 1e-12
    hi = (1 - bound) / 2 - 1e-12
    p_down = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
    p_up = p_down + bound
    z = ((up - down) / n - bound) / math.sqrt((p_up + p_down - bound**2) / n)
    above, _ = stats.paired_proportion_test(up, down, n, bound)
    assert float(above) == pytest.approx(sps.norm.sf(z), rel=1e-4)


def test_quantile_ranks_cover_the_quantile():
    for n in (600, 2000, 10000):
        low, high = stats.quantile_ranks(n, 0.99)
        # P(X_(l) <= Q <= X_(u)) = P(l <= Bin(n, q) < u) for a continuous distribution.
        coverage = sps.binom.cdf(high - 1, n, 0.99) - sps.binom.cdf(low - 1, n, 0.99)
        assert coverage >= 0.94
    n = stats.quantile_min_n(0.99)
    assert stats.quantile_ranks(n, 0.99)[1] <= n < 700


def test_quantile_standard_error_is_calibrated():
    rng = np.random.default_rng(7)
    x = np.sort(rng.lognormal(0, 0.5, (400, 2000)), axis=1)
    q, se = stats.quantile_with_se(x, 0.99)
    # Simulated spread of the estimator vs the mean estimated standard error.
    assert float(np.mean(se)) == pytest.approx(float(np.std(q)), rel=0.2)


def test_batch_means_on_independent_data_is_close_to_a_t_test():
    rng = np.random.default_rng(2)
    d = rng.normal(0.3, 1, 1000)
    est, se, df = stats.batch_means(d, 10)
    assert float(est) == pytest.approx(d.mean())
    assert float(se) == pytest.approx(d.std(ddof=1) / math.sqrt(d.size), rel=0.5)
    assert float(df) == 9


def test_anytime_p_is_never_below_the_fixed_p_and_keeps_false_alarms_under_alpha():
    assert float(stats.anytime_p(0.001, 1000, 1000)) > 0.001
    rng = np.random.default_rng(11)
    steps = rng.normal(0, 1, (4000, 50)).cumsum(axis=1)  # a null random walk looked at 50 times
    n = np.arange(1, 51)
    p = sps.norm.sf(steps / np.sqrt(n))
    rejected = (stats.anytime_p(p, n, 1.0) <= 0.05).any(axis=1).mean()
    naive = (p <= 0.05).any(axis=1).mean()
    assert rejected <= 0.05 < naive


def test_sample_ratio_mismatch_matches_chi_square():
    p = stats.sample_ratio_mismatch(9100, 900, 0.1)
    assert float(p) == pytest.approx(sps.chisquare([9100, 900], [9000, 1000]).pvalue)


def test_requests_needed_scales_with_the_square_of_the_gap():
    assert float(stats.requests_needed(100, 0.0, 0.05, 0.1, 1.645)) == math.ceil(100 * (1.645 * 0.05 / 0.1) ** 2)
    assert stats.requests_needed(100, 0.1, 0.05, 0.1, 1.645) == np.inf


def test_kayenta_mann_whitney_reproduces_kayentas_own_unit_test():
    interval = kayenta.mann_whitney_interval([1, 2, 3, 4], [10, 20, 30, 40], 0.95)
    assert interval == pytest.approx((6.0, 39.0, 22.5), abs=1e-3)
