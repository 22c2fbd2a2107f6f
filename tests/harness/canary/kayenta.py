"""A re-implementation of Kayenta's NetflixACAJudge rule, for side-by-side comparison only.

The judge never uses this. It is here so the benchmark and the tests can show, on the same data,
where Kayenta's rule and ours disagree. Facts carried over from Kayenta (spinnaker/kayenta):

- per metric: NaNs removed, outliers removed (IQR fences at 3x the interquartile range);
  empty arm -> "Nodata"; identical arms -> "Pass";
- Mann-Whitney (Wilcoxon rank-sum) with the normal approximation, tie and continuity
  corrections (R's wilcox.test, asymptotic), 98% confidence interval of the location shift and
  the Hodges-Lehmann-style estimate (root of the standardised statistic);
- the tolerance rule: "High" if the interval's lower end is above 0.25 x |estimate|, "Low" if
  its upper end is below -0.25 x |estimate|, else "Pass" (direction "either");
- score: Pass / (Pass + High + Low) x 100 with Nodata left out; any critical metric not Pass
  -> 0; classified Pass at >= 95, Marginal at >= 75, else Fail (common thresholds).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy import stats as sps

FRACTION = 0.25
CONFIDENCE = 0.98


def remove_outliers(values: np.ndarray, factor: float = 3.0) -> np.ndarray:
    values = values[~np.isnan(values)]
    if values.size < 4:
        return values
    q1, q3 = np.percentile(values, [25, 75])
    iqr = q3 - q1
    return values[(values >= q1 - factor * iqr) & (values <= q3 + factor * iqr)]


def _standardised(control: np.ndarray, experiment: np.ndarray, mu: float) -> float:
    x, y = experiment - mu, control
    ranks = sps.rankdata(np.concatenate([x, y]))
    nx, ny = x.size, y.size
    dz = ranks[:nx].sum() - nx * (nx + 1) / 2 - nx * ny / 2
    _, counts = np.unique(ranks, return_counts=True)
    sigma = np.sqrt(nx * ny / 12 * ((nx + ny + 1) - (counts**3 - counts).sum() / ((nx + ny) * (nx + ny - 1))))
    if sigma == 0:
        raise ValueError("all observations tied")
    return (dz - np.sign(dz) * 0.5) / sigma


def mann_whitney_interval(control, experiment, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(lower, upper, estimate) of the shift experiment - control, as Kayenta computes them."""
    control, experiment = np.asarray(control, float), np.asarray(experiment, float)
    mu_min, mu_max = experiment.min() - control.max(), experiment.max() - control.min()
    z = sps.norm.ppf((1 - confidence) / 2)

    def root(q: float) -> float:
        f = lambda mu: _standardised(control, experiment, mu) - q  # noqa: E731
        if f(mu_min) <= 0:
            return mu_min
        if f(mu_max) >= 0:
            return mu_max
        return optimize.brentq(f, mu_min, mu_max, xtol=1e-4)

    return root(-z), root(z), root(0.0)


def classify(control, experiment, fraction: float = FRACTION, confidence: float = CONFIDENCE) -> str:
    control = remove_outliers(np.asarray(control, float))
    experiment = remove_outliers(np.asarray(experiment, float))
    if control.size == 0 or experiment.size == 0:
        return "Nodata"
    if np.array_equal(np.sort(control), np.sort(experiment)):
        return "Pass"
    try:
        low, high, estimate = mann_whitney_interval(control, experiment, confidence)
    except ValueError:
        return "Pass"
    bound = fraction * abs(estimate)
    if low > bound:
        return "High"
    if high < -bound:
        return "Low"
    return "Pass"


def score(classes: dict[str, str], critical: set[str] = frozenset()) -> float:
    if any(classes[name] != "Pass" for name in critical if name in classes):
        return 0.0
    counted = [c for c in classes.values() if c != "Nodata"]
    if not counted:
        return 0.0
    return 100.0 * sum(c == "Pass" for c in counted) / len(counted)


def verdict(classes: dict[str, str], critical: set[str] = frozenset(), pass_at: float = 95,
            marginal_at: float = 75) -> str:
    s = score(classes, critical)
    return "PASS" if s >= pass_at else "MARGINAL" if s >= marginal_at else "FAIL"
