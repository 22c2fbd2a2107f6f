"""The statistics of the canary judge: small pure functions over numbers or numpy arrays.

Every test compares an *effect* of the canary against the baseline (a difference, or the log of
a ratio) with a *bound* on the same scale and returns two one-sided p-values:

- ``p_above``: against H0 "effect <= bound" (small when the effect is shown to exceed the bound),
- ``p_below``: against H0 "effect >= bound" (small when the effect is shown to stay under it).

The judge orients them by the metric's direction: a canary FAILs when it is shown to be worse
than its margin and PASSes when it is shown to be within it. Functions broadcast over numpy
arrays so the benchmark can judge a thousand simulated runs at once with the same code.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


# --------------------------------------------------------------------------- asymptotic (t / normal)


def t_test(estimate, se, df, bound) -> tuple[np.ndarray, np.ndarray]:
    """One-sided p-values of ``estimate`` against ``bound`` with a t (df=inf: normal) reference."""
    estimate, se, df, bound = _arr(estimate), _arr(se), _arr(df), _arr(bound)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (estimate - bound) / se
    # se == 0 means the estimate is exact: it is either above, below, or at the bound.
    t = np.where(se > 0, t, np.where(estimate > bound, np.inf, np.where(estimate < bound, -np.inf, 0.0)))
    df = np.where(np.isfinite(df), df, 1e12)
    return sps.t.sf(t, df), sps.t.cdf(t, df)


def t_interval(estimate, se, df, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided ``level`` interval ``estimate ± t * se``."""
    estimate, se, df = _arr(estimate), _arr(se), _arr(df)
    q = sps.t.ppf(0.5 + level / 2, np.where(np.isfinite(df), df, 1e12))
    return estimate - q * se, estimate + q * se


def welch(n_b, mean_b, var_b, n_c, mean_c, var_c, log: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Effect of the canary on the mean: ``mean_c - mean_b`` or ``log(mean_c / mean_b)`` (delta method).

    Returns (estimate, standard error, Welch-Satterthwaite degrees of freedom).
    """
    n_b, mean_b, var_b = _arr(n_b), _arr(mean_b), _arr(var_b)
    n_c, mean_c, var_c = _arr(n_c), _arr(mean_c), _arr(var_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        if log:
            estimate = np.log(mean_c / mean_b)
            a, b = var_b / (n_b * mean_b**2), var_c / (n_c * mean_c**2)
        else:
            estimate = mean_c - mean_b
            a, b = var_b / n_b, var_c / n_c
        se = np.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / (n_b - 1) + b**2 / (n_c - 1))
    return estimate, se, np.where(np.isfinite(df), df, np.inf)


def batch_means(diffs: np.ndarray, batches: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of time-paired differences with a standard error robust to autocorrelation.

    Consecutive points are averaged in ``batches`` groups and the group means treated as
    independent (t with batches-1 df): neighbouring samples of a memory gauge or of short
    windows are correlated, so treating every point as independent would overstate certainty.
    """
    diffs = np.asarray(diffs, dtype=float)
    n = diffs.shape[-1]
    k = max(2, min(batches, n))
    groups = np.array_split(diffs, k, axis=-1)
    means = np.stack([g.mean(axis=-1) for g in groups], axis=-1)
    weights = np.array([g.shape[-1] for g in groups], dtype=float)
    estimate = (means * weights).sum(axis=-1) / weights.sum()
    se = means.std(axis=-1, ddof=1) / math.sqrt(k)
    return estimate, se, np.full(np.shape(estimate), float(k - 1))


# --------------------------------------------------------------------------- quantiles


def quantile_ranks(n: int, q: float, level: float = 0.95) -> tuple[int, int]:
    """1-based order-statistic ranks (l, u) bracketing the ``q`` quantile with ~``level`` coverage."""
    z = sps.norm.ppf(0.5 + level / 2)
    centre, spread = n * q, z * math.sqrt(n * q * (1 - q))
    return int(math.floor(centre - spread)), int(math.ceil(centre + spread)) + 1


def quantile_min_n(q: float, level: float = 0.95) -> int:
    """The fewest samples for which the order-statistic interval of the ``q`` quantile exists."""
    n = 2
    while True:
        low, high = quantile_ranks(n, q, level)
        if low >= 1 and high <= n:
            return n
        n = max(n + 1, int(n * 1.05))


def quantile_with_se(sorted_x: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``q`` quantile of samples sorted along the last axis, with a distribution-free standard error.

    The error is the width of the 95% order-statistic interval (x_(l), x_(u)) divided by
    2 * 1.96, a Maritz-Jarrett-like estimate that needs no density assumption.
    """
    x = np.asarray(sorted_x, dtype=float)
    low, high = quantile_ranks(x.shape[-1], q)
    se = (x[..., high - 1] - x[..., low - 1]) / (2 * sps.norm.ppf(0.975))
    return np.quantile(x, q, axis=-1), se


def compare_estimates(est_b, se_b, est_c, se_c, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """Effect ``est_c - est_b`` or ``log(est_c / est_b)`` of two independent estimates, with its se."""
    est_b, se_b, est_c, se_c = _arr(est_b), _arr(se_b), _arr(est_c), _arr(se_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        if log:
            return np.log(est_c / est_b), np.sqrt((se_b / est_b) ** 2 + (se_c / est_c) ** 2)
        return est_c - est_b, np.sqrt(se_b**2 + se_c**2)


# --------------------------------------------------------------------------- proportions (bad / total)


def wilson_interval(x, n, z) -> tuple[np.ndarray, np.ndarray]:
    x, n = _arr(x), _arr(n)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def newcombe_interval(b, n_b, c, n_c, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval (method 10) for ``p_c - p_b``; good coverage at 0 events."""
    z = sps.norm.ppf(0.5 + level / 2)
    pb, pc = _arr(b) / _arr(n_b), _arr(c) / _arr(n_c)
    lb, ub = wilson_interval(b, n_b, z)
    lc, uc = wilson_interval(c, n_c, z)
    d = pc - pb
    low = d - np.sqrt((pc - lc) ** 2 + (ub - pb) ** 2)
    high = d + np.sqrt((uc - pc) ** 2 + (pb - lb) ** 2)
    return low, high


def proportion_difference_test(b, n_b, c, n_c, bound) -> tuple[np.ndarray, np.ndarray]:
    """Farrington-Manning score test of ``p_c - p_b`` against ``bound`` (non-inferiority style).

    The variance is taken at the maximum-likelihood proportions restricted to the null
    (closed-form cubic root), which keeps the test honest when there are zero events.
    """
    x1, n1, x2, n2, delta = _arr(c), _arr(n_c), _arr(b), _arr(n_b), _arr(bound)
    p1, p2 = x1 / n1, x2 / n2
    theta = n2 / n1
    a = 1 + theta
    bb = -(1 + theta + p1 + theta * p2 + delta * (theta + 2))
    cc = delta**2 + delta * (2 * p1 + theta + 1) + p1 + theta * p2
    dd = -p1 * delta * (1 + delta)
    v = bb**3 / (27 * a**3) - bb * cc / (6 * a**2) + dd / (2 * a)
    u = np.sign(v) * np.sqrt(np.maximum(bb**2 / (9 * a**2) - cc / (3 * a), 0.0))
    u = np.where(u == 0, 1e-300, u)
    w = (np.pi + np.arccos(np.clip(v / u**3, -1.0, 1.0))) / 3
    r1 = np.clip(2 * u * np.cos(w) - bb / (3 * a), 0.0, 1.0)
    r2 = np.clip(r1 - delta, 0.0, 1.0)
    var = r1 * (1 - r1) / n1 + r2 * (1 - r2) / n2
    return t_test(p1 - p2, np.sqrt(var), np.inf, delta)


def rate_ratio_test(b, n_b, c, n_c, log_bound) -> tuple[np.ndarray, np.ndarray]:
    """Exact conditional test of the ratio of event rates ``(c/n_c) / (b/n_b)`` against exp(log_bound).

    Given k = b + c bad events, the canary's share is Binomial(k, pi) with
    pi = n_c R / (n_b + n_c R): exact for Poisson counts (rare errors) whatever the load did, since
    only the split of the events between arms matters. No events: nothing can be shown (p = 1).
    """
    b, n_b, c, n_c = _arr(b), _arr(n_b), _arr(c), _arr(n_c)
    ratio = np.exp(_arr(log_bound))
    k = b + c
    pi = n_c * ratio / (n_b + n_c * ratio)
    p_above = np.where(k > 0, sps.binom.sf(c - 1, k, pi), 1.0)
    p_below = np.where(k > 0, sps.binom.cdf(c, k, pi), 1.0)
    return p_above, p_below


def rate_ratio_interval(b, n_b, c, n_c, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson interval of the canary share of events, mapped to ``log(R)``."""
    b, n_b, c, n_c = _arr(b), _arr(n_b), _arr(c), _arr(n_c)
    k = b + c
    tail = (1 - level) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(c > 0, sps.beta.ppf(tail, c, k - c + 1), 0.0)
        hi = np.where(c < k, sps.beta.ppf(1 - tail, c + 1, k - c), 1.0)
        to_log_ratio = lambda pi: np.log(pi * n_b / ((1 - pi) * n_c))  # noqa: E731
        return to_log_ratio(lo), to_log_ratio(hi)


# --------------------------------------------------------------------------- paired 0/1 (golden set)


def paired_proportion_test(up, down, n, bound) -> tuple[np.ndarray, np.ndarray]:
    """Test of ``(up - down) / n`` (canary minus baseline share of 1s on the same items) vs ``bound``.

    ``up``: items 0 for the baseline and 1 for the canary; ``down``: the reverse. With bound 0 it
    is McNemar's exact test (binomial on the discordant pairs); otherwise Tango's score test,
    whose variance is taken at the null-restricted maximum likelihood.
    """
    up, down, n, bound = _arr(up), _arr(down), _arr(n), _arr(bound)
    k = up + down
    exact_above = np.where(k > 0, sps.binom.sf(up - 1, k, 0.5), 1.0)
    exact_below = np.where(k > 0, sps.binom.cdf(up, k, 0.5), 1.0)
    # Tango: written for bound >= 0; for a negative bound swap the roles and mirror.
    flip = bound < 0
    a, d, th = np.where(flip, down, up), np.where(flip, up, down), np.abs(bound)
    rest = n - a - d
    bq = a * (1 - th) + d * (1 - 3 * th) - 2 * rest * th
    x = (bq + np.sqrt(bq**2 + 8 * n * d * th * (1 - th))) / (4 * n)
    var = np.maximum(2 * x + th - th**2, 0.0) / n
    est = (a - d) / n
    score_above, score_below = t_test(est, np.sqrt(var), np.inf, th)
    score_above, score_below = np.where(flip, score_below, score_above), np.where(flip, score_above, score_below)
    zero = bound == 0
    return np.where(zero, exact_above, score_above), np.where(zero, exact_below, score_below)


def paired_proportion_interval(up, down, n, level: float) -> tuple[np.ndarray, np.ndarray]:
    up, down, n = _arr(up), _arr(down), _arr(n)
    est = (up - down) / n
    se = np.sqrt(np.maximum((up + down) / n**2 - est**2 / n, 0.0))
    return t_interval(est, se, np.inf, level)


# --------------------------------------------------------------------------- data checks, multiplicity


def sample_ratio_mismatch(n_b, n_c, canary_share: float) -> np.ndarray:
    """Two-sided p-value that the canary's share of traffic is ``canary_share`` (chi-square, 1 df)."""
    n_b, n_c = _arr(n_b), _arr(n_c)
    total = n_b + n_c
    expected = total * canary_share
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (n_c - expected) / np.sqrt(total * canary_share * (1 - canary_share))
    return np.where(total > 0, 2 * sps.norm.sf(np.abs(z)), 1.0)


def holm(pvalues: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down rejections along the last axis (family-wise error <= alpha, any dependence)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.shape[-1]
    if m == 0:
        return np.zeros(p.shape, dtype=bool)
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    thresholds = alpha / (m - np.arange(m))
    below = ranked <= thresholds
    # Step down: reject the k smallest where every one of them met its threshold.
    accepted_so_far = np.cumprod(below, axis=-1).astype(bool)
    reject = np.zeros_like(accepted_so_far)
    np.put_along_axis(reject, order, accepted_so_far, axis=-1)
    return reject


def anytime_p(p, n, rho) -> np.ndarray:
    """Turn a one-sided fixed-n p-value into an anytime-valid one (normal-mixture e-value).

    With z the statistic behind p and n the information so far (requests), the mixture
    martingale sqrt(rho/(n+rho)) * exp(z^2 n / (2(n+rho))) is an e-value at every look (Robbins'
    normal mixture, asymptotically): its running maximum crosses 1/alpha with probability at
    most alpha, however often one peeks. ``rho`` is where the boundary is tightest, fixed before
    the data (the first look's size). Only evidence in the tested direction counts.
    """
    p, n, rho = _arr(p), _arr(n), _arr(rho)
    z = sps.norm.isf(np.clip(p, 1e-300, 1.0))
    log_e = 0.5 * np.log(rho / (n + rho)) + z**2 * n / (2 * (n + rho))
    return np.where(z > 0, np.minimum(1.0, np.exp(-log_e)), 1.0)


def anytime_z(alpha: float, n, rho) -> np.ndarray:
    """The normal-mixture boundary in z units: the anytime counterpart of ``z_{1-alpha}``."""
    n, rho = _arr(n), _arr(rho)
    return np.sqrt((n + rho) / n * np.log((n + rho) / (rho * alpha**2)))


def requests_needed(n, estimate, se, bound, z) -> np.ndarray:
    """Per-arm sample size at which ``|estimate - bound| = z * se`` if the estimate held (se ~ 1/sqrt(n))."""
    n, estimate, se, bound = _arr(n), _arr(estimate), _arr(se), _arr(bound)
    gap = np.abs(estimate - bound)
    with np.errstate(divide="ignore", invalid="ignore"):
        need = n * (z * se / gap) ** 2
    return np.where((gap > 0) & np.isfinite(need), np.ceil(need), np.inf)
