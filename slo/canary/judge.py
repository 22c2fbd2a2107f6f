"""The canary judge: what each metric is, which checks it gets, and the verdict.

One code path for a single judgement and for a thousand simulated ones: arm data are arrays
with a leading *runs* axis (length 1 for the CLI), every check holds per-run arrays, and
:func:`decide` turns p-values into verdicts per run.

Rules (see README.md): each check is PASS (shown within its margin at level alpha), FAIL (shown
worse than its margin, Holm's step-down across all checks of all metrics so the family-wise
rate of false FAILs stays under alpha) or INCONCLUSIVE. A metric FAILs if any of its checks
fails and PASSes only if all pass. Verdict: FAIL if a critical metric fails; MARGINAL if
another metric fails; PASS only if every metric passes; otherwise INCONCLUSIVE when a critical
metric (or every metric) is inconclusive, and MARGINAL when only non-critical ones are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats as sps
from triton_slo.canary import stats
from triton_slo.canary.config import (  # noqa: F401 - the judge's configuration, re-exported
    CONFIG_FIELDS,
    KINDS,
    MIN_SAMPLES,
    Margin,
    MetricConfig,
    defaults_for,
    resolve_config,
)
from triton_slo.errors import UserError

PASS, FAIL, INCONCLUSIVE, MARGINAL = "PASS", "FAIL", "INCONCLUSIVE", "MARGINAL"
VERDICT_CODES = (PASS, FAIL, INCONCLUSIVE)  # per-check verdict arrays hold indexes into this
EXIT_CODES = {PASS: 0, FAIL: 1, MARGINAL: 3, INCONCLUSIVE: 4}
SRM_ALPHA = 0.001  # a sample-ratio mismatch is a broken split, not noise: flag only clear ones


# --------------------------------------------------------------------------- arm data


@dataclass(frozen=True)
class Samples:
    """Raw samples per arm, shape (runs, n); None: the series is absent (not merely empty)."""

    baseline: np.ndarray | None
    canary: np.ndarray | None


@dataclass(frozen=True)
class Counts:
    """Bad events and totals per arm, shape (runs,); None: the series is absent."""

    baseline: tuple[np.ndarray, np.ndarray] | None
    canary: tuple[np.ndarray, np.ndarray] | None


@dataclass(frozen=True)
class MetricInput:
    config: MetricConfig
    data: Samples | Counts
    promql: tuple[str, ...] = ()  # the queries that produced the data (online)
    notes: tuple[str, ...] = ()  # data-quality facts worth printing (resets, warm-up excluded)
    srm: bool = True  # whether this metric's arm sizes reflect the traffic split


# --------------------------------------------------------------------------- checks


@dataclass
class Check:
    """One test of one metric, with per-run arrays (shape (runs,))."""

    metric: str
    name: str
    test: str
    relative: bool  # effect is a log ratio (shown as a % change) rather than a difference
    bound: float  # the margin on the effect scale, signed by the bad direction
    direction: str
    n_baseline: np.ndarray
    n_canary: np.ndarray
    baseline: np.ndarray  # per-arm estimates in the metric's unit
    canary: np.ndarray
    effect: np.ndarray
    low: np.ndarray  # (1 - 2 alpha) interval of the effect
    high: np.ndarray
    p_worse: np.ndarray  # H0: not worse than the margin
    p_within: np.ndarray  # H0: at least as bad as the margin
    blocked: str = ""  # a data problem that leaves the check INCONCLUSIVE whatever the numbers
    more_needed: int = 0  # requests per arm a blocked check lacks
    deterministic: bool = False  # a rule (zero tolerance, budget), not a statistical test
    info: dict = field(default_factory=dict)


def _blocked(cfg: MetricConfig, name: str, test: str, reason: str, n_b, n_c, runs: int, more: int = 0) -> Check:
    nan = np.full(runs, np.nan)
    one = np.ones(runs)
    return Check(cfg.name, name, test, cfg.margin.relative, cfg.margin.bound(cfg.direction), cfg.direction,
                 np.broadcast_to(np.asarray(n_b, float), (runs,)), np.broadcast_to(np.asarray(n_c, float), (runs,)),
                 nan, nan, nan, nan, nan, one, one, blocked=reason, more_needed=more)


def _oriented(direction: str, p_above: np.ndarray, p_below: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p_worse, p_within) from the two one-sided p-values, for the metric's bad direction."""
    return (p_above, p_below) if direction == "increase" else (p_below, p_above)


def _runs(data: Samples | Counts) -> int:
    arms = [data.baseline, data.canary]
    for arm in arms:
        if arm is not None:
            return int((arm[0] if isinstance(arm, tuple) else arm).shape[0])
    return 1


def build_checks(item: MetricInput, alpha: float) -> list[Check]:
    """The checks of one metric: data first (absent, empty, too few), then the statistics."""
    cfg, data = item.config, item.data
    runs = _runs(data)
    level = 1 - 2 * alpha
    if isinstance(data, Counts):
        return _count_checks(cfg, data, runs, level)
    return _sample_checks(cfg, data, runs, level)


def _absent_reason(baseline_absent: bool, canary_absent: bool, empty_b: bool, empty_c: bool, unit: str) -> str:
    if baseline_absent or canary_absent:
        arms = " and ".join(a for a, gone in (("baseline", baseline_absent), ("canary", canary_absent)) if gone)
        return f"no data: the {arms} series is absent (not zero): check the selector and that it is scraped"
    if empty_b or empty_c:
        arms = " and ".join(a for a, empty in (("baseline", empty_b), ("canary", empty_c)) if empty)
        return f"no data: the {arms} had 0 {unit}"
    return ""


def _count_checks(cfg: MetricConfig, data: Counts, runs: int, level: float) -> list[Check]:
    b_absent, c_absent = data.baseline is None, data.canary is None
    zero = np.zeros(runs)
    bad_b, n_b = data.baseline if data.baseline is not None else (zero, zero)
    bad_c, n_c = data.canary if data.canary is not None else (zero, zero)
    name = "non-finite outputs" if cfg.kind == "nonfinite" else "bad ratio"
    if cfg.kind == "nonfinite":
        # Zero tolerance: one NaN/Inf output from the canary fails it, whatever the baseline did.
        if c_absent or np.all(n_c == 0):
            reason = _absent_reason(False, c_absent, False, not c_absent, "outputs checked")
            return [_blocked(cfg, name, "zero tolerance", reason, n_b, n_c, runs)]
        worse = bad_c > 0
        return [Check(cfg.name, name, "zero tolerance", False, 0.0, "increase", n_b, n_c,
                      bad_b / np.maximum(n_b, 1), bad_c / n_c, bad_c / n_c - bad_b / np.maximum(n_b, 1),
                      bad_c / n_c, bad_c / n_c, np.where(worse, 0.0, 1.0), np.where(worse, 1.0, 0.0),
                      deterministic=True, info={"canary_bad": bad_c, "baseline_bad": bad_b})]
    reason = _absent_reason(b_absent, c_absent, bool(np.all(n_b == 0)), bool(np.all(n_c == 0)), "requests")
    if reason:
        return [_blocked(cfg, name, "", reason, n_b, n_c, runs)]
    bound = cfg.margin.bound(cfg.direction)
    pb, pc = bad_b / n_b, bad_c / n_c
    if cfg.margin.relative:
        test = "exact conditional test of the rate ratio"
        with np.errstate(divide="ignore", invalid="ignore"):
            effect = np.log(pc / pb)
        low, high = stats.rate_ratio_interval(bad_b, n_b, bad_c, n_c, level)
        p_worse, p_within = _oriented(cfg.direction, *stats.rate_ratio_test(bad_b, n_b, bad_c, n_c, bound))
        check = Check(cfg.name, name, test, True, bound, cfg.direction, n_b, n_c, pb, pc, effect, low, high,
                      p_worse, p_within, info={"baseline_bad": bad_b, "canary_bad": bad_c})
        if np.all(bad_b + bad_c == 0):
            check.blocked = ("no bad events in either arm: a relative margin cannot be judged on zero events; "
                             "give an absolute margin in ratio units (e.g. 0.001)")
        return [check]
    test = "Farrington-Manning score test (Newcombe interval)"
    low, high = stats.newcombe_interval(bad_b, n_b, bad_c, n_c, level)
    p_worse, p_within = _oriented(cfg.direction, *stats.proportion_difference_test(bad_b, n_b, bad_c, n_c, bound))
    return [Check(cfg.name, name, test, False, bound, cfg.direction, n_b, n_c, pb, pc, pc - pb, low, high,
                  p_worse, p_within, info={"baseline_bad": bad_b, "canary_bad": bad_c})]


def _sample_checks(cfg: MetricConfig, data: Samples, runs: int, level: float) -> list[Check]:
    b, c = data.baseline, data.canary
    n_b = 0 if b is None else b.shape[-1]
    n_c = 0 if c is None else c.shape[-1]
    reason = _absent_reason(b is None, c is None, n_b == 0, n_c == 0, "samples")
    if reason:
        return [_blocked(cfg, "mean", "", reason, n_b, n_c, runs)]
    paired = cfg.paired and n_b == n_c
    binary = cfg.kind == "accuracy" and bool(np.all((b == 0) | (b == 1)) and np.all((c == 0) | (c == 1)))
    if cfg.kind == "accuracy" and paired and binary:
        return [_paired_binary_check(cfg, b, c, runs, level)]
    checks: list[Check] = []
    if min(n_b, n_c) < cfg.min_samples:
        more = cfg.min_samples - min(n_b, n_c)
        checks.append(_blocked(cfg, "mean", "", f"too little data: {min(n_b, n_c)} samples in an arm, "
                               f"at least {cfg.min_samples} needed", n_b, n_c, runs, more))
    elif paired:
        checks.append(_paired_mean_check(cfg, b, c, runs, level))
    else:
        checks.append(_mean_check(cfg, b, c, level))
    if cfg.quantile is not None and not paired:
        checks.append(_quantile_check(cfg, b, c, runs, level))
    if cfg.threshold is not None:
        checks.append(_exceedance_check(cfg, b, c, level))
    if cfg.budget is not None:
        checks.append(_budget_check(cfg, b, c))
    return checks


def _needs_positive(cfg: MetricConfig, name: str, values: list[np.ndarray], n_b, n_c, runs) -> Check | None:
    if cfg.margin.relative and any(np.any(v <= 0) for v in values):
        return _blocked(cfg, name, "", "a relative margin needs positive values; give an absolute margin "
                        "in the metric's unit", n_b, n_c, runs)
    return None


def _mean_check(cfg: MetricConfig, b: np.ndarray, c: np.ndarray, level: float) -> Check:
    runs, n_b, n_c = b.shape[0], b.shape[-1], c.shape[-1]
    mean_b, mean_c = b.mean(axis=-1), c.mean(axis=-1)
    var_b, var_c = b.var(axis=-1, ddof=1), c.var(axis=-1, ddof=1)
    blocked = _needs_positive(cfg, "mean", [mean_b, mean_c], n_b, n_c, runs)
    if blocked:
        return blocked
    bound = cfg.margin.bound(cfg.direction)
    effect, se, df = stats.welch(n_b, mean_b, var_b, n_c, mean_c, var_c, log=cfg.margin.relative)
    low, high = stats.t_interval(effect, se, df, level)
    p_worse, p_within = _oriented(cfg.direction, *stats.t_test(effect, se, df, bound))
    test = "Welch t on the log ratio of means" if cfg.margin.relative else "Welch t on the difference of means"
    return Check(cfg.name, "mean", test, cfg.margin.relative, bound, cfg.direction,
                 np.full(runs, float(n_b)), np.full(runs, float(n_c)), mean_b, mean_c, effect, low, high,
                 p_worse, p_within)


def _paired_mean_check(cfg: MetricConfig, b: np.ndarray, c: np.ndarray, runs: int, level: float) -> Check:
    n = b.shape[-1]
    blocked = _needs_positive(cfg, "paired mean", [b, c], n, n, runs)
    if blocked:
        return blocked
    diffs = np.log(c / b) if cfg.margin.relative else c - b
    effect, se, df = stats.batch_means(diffs)
    bound = cfg.margin.bound(cfg.direction)
    low, high = stats.t_interval(effect, se, df, level)
    p_worse, p_within = _oriented(cfg.direction, *stats.t_test(effect, se, df, bound))
    kind = "log ratios" if cfg.margin.relative else "differences"
    return Check(cfg.name, "paired mean", f"t on batch means of time-paired {kind} ({int(df.flat[0]) + 1} batches)",
                 cfg.margin.relative, bound, cfg.direction, np.full(runs, float(n)), np.full(runs, float(n)),
                 b.mean(axis=-1), c.mean(axis=-1), effect, low, high, p_worse, p_within)


def _quantile_check(cfg: MetricConfig, b: np.ndarray, c: np.ndarray, runs: int, level: float) -> Check:
    q = cfg.quantile
    name = f"p{q * 100:g}"
    n_b, n_c = b.shape[-1], c.shape[-1]
    needed = stats.quantile_min_n(q)
    if min(n_b, n_c) < needed:
        return _blocked(cfg, name, "", f"too little data for {name}: {min(n_b, n_c)} samples in an arm, its "
                        f"order-statistic interval needs {needed}", n_b, n_c, runs, needed - min(n_b, n_c))
    qb, se_b = stats.quantile_with_se(np.sort(b, axis=-1), q)
    qc, se_c = stats.quantile_with_se(np.sort(c, axis=-1), q)
    blocked = _needs_positive(cfg, name, [qb, qc], n_b, n_c, runs)
    if blocked:
        return blocked
    bound = cfg.margin.bound(cfg.direction)
    effect, se = stats.compare_estimates(qb, se_b, qc, se_c, log=cfg.margin.relative)
    low, high = stats.t_interval(effect, se, np.inf, level)
    p_worse, p_within = _oriented(cfg.direction, *stats.t_test(effect, se, np.inf, bound))
    return Check(cfg.name, name, "order-statistic interval of each quantile, z test", cfg.margin.relative, bound,
                 cfg.direction, np.full(runs, float(n_b)), np.full(runs, float(n_c)), qb, qc, effect, low, high,
                 p_worse, p_within)


def _exceedance_check(cfg: MetricConfig, b: np.ndarray, c: np.ndarray, level: float) -> Check:
    runs, n_b, n_c = b.shape[0], b.shape[-1], c.shape[-1]
    worse_side = (lambda x: x > cfg.threshold) if cfg.direction == "increase" else (lambda x: x < cfg.threshold)
    bad_b, bad_c = worse_side(b).sum(axis=-1).astype(float), worse_side(c).sum(axis=-1).astype(float)
    sub = replace(cfg, margin=Margin(cfg.exceedance_margin, False, f"{cfg.exceedance_margin:g}"),
                  direction="increase", kind="error_ratio")
    counts = Counts((bad_b, np.full(runs, float(n_b))), (bad_c, np.full(runs, float(n_c))))
    check = _count_checks(sub, counts, runs, level)[0]
    check.name = f"share {'>' if cfg.direction == 'increase' else '<'} {cfg.threshold:g}"
    check.metric = cfg.name
    return check


def _budget_check(cfg: MetricConfig, b: np.ndarray, c: np.ndarray) -> Check:
    runs = c.shape[0]
    peak_b, peak_c = b.max(axis=-1), c.max(axis=-1)
    over = peak_c > cfg.budget if cfg.direction == "increase" else peak_c < cfg.budget
    return Check(cfg.name, "budget", f"peak vs budget {cfg.budget:g}", False, 0.0, cfg.direction,
                 np.full(runs, float(b.shape[-1])), np.full(runs, float(c.shape[-1])), peak_b, peak_c,
                 peak_c - cfg.budget, peak_c - cfg.budget, peak_c - cfg.budget,
                 np.where(over, 0.0, 1.0), np.where(over, 1.0, 0.0), deterministic=True)


def _paired_binary_check(cfg: MetricConfig, b: np.ndarray, c: np.ndarray, runs: int, level: float) -> Check:
    n = b.shape[-1]
    up = ((b == 0) & (c == 1)).sum(axis=-1).astype(float)
    down = ((b == 1) & (c == 0)).sum(axis=-1).astype(float)
    bound = cfg.margin.value * (1 if cfg.direction == "increase" else -1)
    if cfg.margin.relative:
        raise UserError(f"metric {cfg.name!r}: field 'margin': a paired accuracy needs an absolute margin "
                        f"in ratio units (e.g. 0.01), not {cfg.margin.text}")
    low, high = stats.paired_proportion_interval(up, down, n, level)
    p_worse, p_within = _oriented(cfg.direction, *stats.paired_proportion_test(up, down, n, bound))
    test = "McNemar exact test" if bound == 0 else "Tango score test on paired items (McNemar family)"
    return Check(cfg.name, "paired accuracy", test, False, bound, cfg.direction, np.full(runs, float(n)),
                 np.full(runs, float(n)), b.mean(axis=-1), c.mean(axis=-1), (up - down) / n, low, high,
                 p_worse, p_within, info={"flips": up + down, "fixed": up, "broken": down})


# --------------------------------------------------------------------------- decision


@dataclass
class Decision:
    """Verdicts per run: checks (runs, m) as indexes into VERDICT_CODES, metrics and the whole."""

    checks: list[Check]
    check_verdicts: np.ndarray
    p_worse: np.ndarray  # (runs, m) as used (anytime-valid under --watch)
    p_within: np.ndarray
    metric_verdicts: dict[str, np.ndarray]  # name -> (runs,) of PASS/FAIL/INCONCLUSIVE strings
    verdict: np.ndarray  # (runs,) of PASS/FAIL/MARGINAL/INCONCLUSIVE
    srm: dict[str, np.ndarray]  # name -> (runs,) p-values of the sample-ratio check
    critical: dict[str, bool]
    alpha: float


class Watch:
    """State of `--watch` across looks: anytime-valid p-values need a fixed mixing scale (rho,
    the information at a check's first decidable look) and keep the best evidence seen so far."""

    def __init__(self) -> None:
        self.rho: dict[tuple[str, str], np.ndarray] = {}
        self.best: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self.looks = 0

    def apply(self, checks: list[Check], p_worse: np.ndarray, p_within: np.ndarray, alpha: float) -> None:
        """Make each check's p-values anytime-valid and widen its interval to match, in place."""
        self.looks += 1
        for j, ch in enumerate(checks):
            if ch.deterministic or ch.blocked:
                continue
            key = (ch.metric, ch.name)
            n = ch.n_baseline + ch.n_canary
            rho = self.rho.setdefault(key, n)
            worse, within = stats.anytime_p(p_worse[:, j], n, rho), stats.anytime_p(p_within[:, j], n, rho)
            if key in self.best:
                worse, within = np.minimum(worse, self.best[key][0]), np.minimum(within, self.best[key][1])
            self.best[key] = (worse, within)
            p_worse[:, j], p_within[:, j] = worse, within
            # The interval shown becomes the confidence sequence: same centre, the mixture boundary.
            centre, half = (ch.high + ch.low) / 2, (ch.high - ch.low) / 2
            widen = stats.anytime_z(alpha, n, rho) / sps.norm.isf(alpha)
            ch.low, ch.high = centre - half * widen, centre + half * widen


def decide(
    inputs: list[MetricInput],
    checks: list[Check],
    alpha: float,
    canary_share: float = 0.0,
    watch: Watch | None = None,
) -> Decision:
    """Turn the checks' p-values into verdicts (anytime-valid ones when ``watch`` carries the looks)."""
    if not checks:
        raise UserError("no metrics to judge")
    runs = checks[0].p_worse.shape[0]
    p_worse = np.stack([np.broadcast_to(ch.p_worse, (runs,)) for ch in checks], axis=-1).astype(float)
    p_within = np.stack([np.broadcast_to(ch.p_within, (runs,)) for ch in checks], axis=-1).astype(float)
    if watch is not None:
        watch.apply(checks, p_worse, p_within, alpha)
    blocked = np.array([bool(ch.blocked) for ch in checks])
    p_worse = np.where(blocked, 1.0, p_worse)
    fail = stats.holm(p_worse, alpha)
    passed = (p_within <= alpha) & ~blocked & ~fail
    verdicts = np.where(fail, 1, np.where(passed, 0, 2))

    srm: dict[str, np.ndarray] = {}
    metric_verdicts: dict[str, np.ndarray] = {}
    critical = {item.config.name: item.config.critical for item in inputs}
    for item in inputs:
        name = item.config.name
        cols = [j for j, ch in enumerate(checks) if ch.metric == name]
        v = verdicts[:, cols]
        verdict = np.where((v == 1).any(axis=-1), FAIL, np.where((v == 0).all(axis=-1), PASS, INCONCLUSIVE))
        if canary_share > 0 and item.srm and cols:
            first = checks[cols[0]]
            srm[name] = stats.sample_ratio_mismatch(first.n_baseline, first.n_canary, canary_share)
            # A broken split biases the comparison: a PASS is not trusted, a FAIL still stands.
            verdict = np.where((srm[name] < SRM_ALPHA) & (verdict == PASS), INCONCLUSIVE, verdict)
        metric_verdicts[name] = verdict
    overall = combine(metric_verdicts, critical)
    return Decision(checks, verdicts, p_worse, p_within, metric_verdicts, overall, srm, critical, alpha)


def combine(metric_verdicts: dict[str, np.ndarray], critical: dict[str, bool]) -> np.ndarray:
    names = list(metric_verdicts)
    table = np.stack([metric_verdicts[n] for n in names], axis=-1)
    crit = np.array([critical[n] for n in names])
    fail, inconclusive = table == FAIL, table == INCONCLUSIVE
    critical_fail = (fail & crit).any(axis=-1)
    any_fail = fail.any(axis=-1)
    all_pass = (table == PASS).all(axis=-1)
    critical_open = (inconclusive & crit).any(axis=-1) | inconclusive.all(axis=-1)
    return np.where(critical_fail, FAIL, np.where(any_fail, MARGINAL, np.where(
        all_pass, PASS, np.where(critical_open, INCONCLUSIVE, MARGINAL))))


def judge(
    inputs: list[MetricInput], alpha: float = 0.05, canary_share: float = 0.0, watch: Watch | None = None
) -> Decision:
    """Checks for every metric, then the decision."""
    if not 0 < alpha < 0.5:
        raise UserError(f"alpha {alpha}: must be between 0 and 0.5")
    checks = [check for item in inputs for check in build_checks(item, alpha)]
    return decide(inputs, checks, alpha, canary_share, watch)


# --------------------------------------------------------------------------- explanations


def _z_for(alpha: float) -> float:
    return float(sps.norm.isf(alpha))


def more_needed(check: Check, decision: Decision, run: int = 0) -> int | None:
    """About how many more requests per arm would decide an INCONCLUSIVE check (None: cannot say)."""
    if check.blocked:
        return check.more_needed or None
    low, high, effect = check.low[run], check.high[run], check.effect[run]
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(effect)):
        return None
    m = decision.p_worse.shape[-1]
    worse = (effect - check.bound) * (1 if check.direction == "increase" else -1) > 0
    z_level = _z_for(decision.alpha)
    se = (high - low) / (2 * z_level)
    n = float(min(check.n_baseline[run], check.n_canary[run]))
    z = _z_for(decision.alpha / m) if worse else z_level
    need = float(stats.requests_needed(n, effect, se, check.bound, z))
    if not math.isfinite(need) or need <= n:
        return None
    return int(need - n)
