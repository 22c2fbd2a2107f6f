"""Multiwindow multi-burn-rate math (Google SRE Workbook, "Alerting on SLOs"), as pure functions.

A tier fires when the error ratio over its long *and* its short window exceeds
``factor * error budget``. The Workbook's tiers are written for a 30-day period; for another
period the windows scale with it so that each tier still stands for the same fraction of the
budget (``factor * long_window / period``), and the factors stay as they are.

Timings assume the worst case the Workbook uses: a full outage (every event bad) that starts
after a clean history. Windows the rules compute as a sum of recorded base-window rates (see
``slo.rules``) see an outage smoothed over the base window; ``detection_seconds`` and
``reset_seconds`` take that into account when given ``base``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from triton_slo.durations import format_duration
from triton_slo.model import SLO, BurnRateTier
from triton_slo.promql import number as decimal_text  # its older name, which other modules import from here

WORKBOOK_PERIOD = 30 * 86400

# (name, severity, factor, long window, short window) for a 30-day period (Workbook, table 5-8).
WORKBOOK_TIERS: tuple[BurnRateTier, ...] = (
    BurnRateTier("page-fast", "critical", Decimal("14.4"), 3600, 300),
    BurnRateTier("page-slow", "critical", Decimal("6"), 6 * 3600, 1800),
    BurnRateTier("ticket-fast", "warning", Decimal("3"), 86400, 2 * 3600),
    BurnRateTier("ticket-slow", "warning", Decimal("1"), 3 * 86400, 6 * 3600),
)


def scale_window(seconds: int, period_seconds: int) -> int:
    """A Workbook window scaled from 30 days to ``period_seconds``, in whole seconds (at least 0)."""
    scaled = Decimal(seconds) * Decimal(period_seconds) / Decimal(WORKBOOK_PERIOD)
    return int(scaled.to_integral_value(rounding=ROUND_HALF_UP))


def default_tiers(period_seconds: int) -> tuple[BurnRateTier, ...]:
    """The Workbook's four tiers with windows scaled to the period (same budget fractions)."""
    return tuple(
        BurnRateTier(
            tier.name,
            tier.severity,
            tier.factor,
            scale_window(tier.long_window, period_seconds),
            scale_window(tier.short_window, period_seconds),
        )
        for tier in WORKBOOK_TIERS
    )


def tiers_for(slo: SLO) -> tuple[BurnRateTier, ...]:
    """The tiers an SLO alerts on: its own, else the Workbook's scaled; minus disabled severities."""
    tiers = slo.alerting.tiers or default_tiers(slo.window.seconds)
    return tuple(
        tier
        for tier in tiers
        if (tier.severity == "critical" and slo.alerting.page) or (tier.severity == "warning" and slo.alerting.ticket)
    )


def threshold(factor: Decimal, error_budget: Decimal) -> Decimal:
    """The error ratio a tier fires above, exact: 14.4 x 0.001 = 0.0144."""
    return (factor * error_budget).normalize()


def budget_fraction(tier: BurnRateTier, period_seconds: int) -> Decimal:
    """Share of the period's budget spent by the time the long window alone reaches its threshold."""
    return (tier.factor * Decimal(tier.long_window) / Decimal(period_seconds)).normalize()


def can_fire(tier: BurnRateTier, error_budget: Decimal) -> bool:
    """An error ratio cannot exceed 1: a 90% SLO (budget 0.1) never reaches 14.4x."""
    return threshold(tier.factor, error_budget) < 1


def _window_fill_seconds(level: float, window: float, base: float) -> float:
    """Seconds of full outage until a window's error ratio reaches ``level`` (0 < level < 1).

    A raw window (``base`` 0) holds the outage share ``t / window``. A window summed from
    base-window rates sees each rate ramp up over ``base`` seconds: ``t^2 / (2 base window)``
    while ``t < base``, then ``(t - base/2) / window``.
    """
    if base <= 0:
        return level * window
    if level * window >= base / 2:
        return level * window + base / 2
    return math.sqrt(2 * base * window * level)


def detection_seconds(
    tier: BurnRateTier, error_budget: Decimal, long_base: float = 0, short_base: float = 0
) -> float | None:
    """Time from the start of a full outage to the tier firing (None: it never can)."""
    if not can_fire(tier, error_budget):
        return None
    level = float(threshold(tier.factor, error_budget))
    return max(
        _window_fill_seconds(level, tier.long_window, long_base),
        _window_fill_seconds(level, tier.short_window, short_base),
    )


def reset_seconds(tier: BurnRateTier, error_budget: Decimal, short_base: float = 0) -> float | None:
    """Time from the end of a long full outage until the tier stops firing (its short window clears)."""
    if not can_fire(tier, error_budget):
        return None
    level = float(threshold(tier.factor, error_budget))
    return tier.short_window * (1 - level) + short_base / 2


def exhaustion_seconds(factor: Decimal, period_seconds: int) -> float:
    """Time to spend the whole budget while burning at ``factor`` times the sustainable rate."""
    return float(Decimal(period_seconds) / factor)


@dataclass(frozen=True)
class TierReport:
    """What `generate` says about one tier of one SLO."""

    tier: BurnRateTier
    threshold: Decimal
    detection: float | None
    reset: float | None
    exhaustion: float

    def text(self) -> str:
        t = self.tier
        head = (
            f"{t.name} ({t.severity}): {decimal_text(t.factor)}x over {format_duration(t.long_window)} "
            f"and {format_duration(t.short_window)} (error ratio > {decimal_text(self.threshold)})"
        )
        if self.detection is None:
            return f"{head}: can never fire"
        return (
            f"{head}: fires {_human(self.detection)} into a full outage, clears {_human(self.reset or 0)} "
            f"after it ends; this burn empties the budget in {_human(self.exhaustion)}"
        )


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    return format_duration(int(round(seconds)))


def check_tiers(
    slo: SLO, tiers: tuple[BurnRateTier, ...], evaluation_interval: float
) -> list[str]:
    """Static problems of an SLO's tiers: never firing, zero or too short windows, swapped windows."""
    problems = []
    where = f"SLO {slo.name!r}"
    for tier in tiers:
        name = f"{where} tier {tier.name!r}"
        if tier.long_window <= 0 or tier.short_window <= 0:
            problems.append(f"{name}: a window is zero-length (long {tier.long_window}s, short {tier.short_window}s)")
            continue
        if not can_fire(tier, slo.error_budget):
            problems.append(
                f"{name} can never fire: {decimal_text(tier.factor)}x a {decimal_text(slo.error_budget)} "
                f"budget needs an error ratio of {decimal_text(threshold(tier.factor, slo.error_budget))} (> 1)"
            )
        if tier.short_window >= tier.long_window:
            problems.append(
                f"{name}: short window {format_duration(tier.short_window)} is not shorter than "
                f"the long window {format_duration(tier.long_window)}"
            )
        if tier.short_window < 2 * evaluation_interval:
            problems.append(
                f"{name}: short window {format_duration(tier.short_window)} is under two evaluation "
                f"intervals ({format_duration(evaluation_interval)}); rate() needs two samples in it"
            )
        if tier.long_window > slo.window.seconds:
            problems.append(
                f"{name}: long window {format_duration(tier.long_window)} is longer than the SLO window "
                f"{slo.window.text}"
            )
    return problems
