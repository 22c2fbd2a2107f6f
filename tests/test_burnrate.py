"""The burn-rate math against the SRE Workbook's numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from triton_slo.burnrate import (
    WORKBOOK_TIERS,
    budget_fraction,
    can_fire,
    check_tiers,
    decimal_text,
    default_tiers,
    detection_seconds,
    exhaustion_seconds,
    reset_seconds,
    scale_window,
    threshold,
    tiers_for,
)
from triton_slo.model import SLO, AvailabilitySLI, BurnRateTier, SLOAlerting, Window

DAY = 86400


def slo(objective: str = "99.9", days: int = 30, **alerting) -> SLO:
    return SLO("availability", Decimal(objective), Window(days * DAY, f"{days}d"), AvailabilitySLI(),
               alerting=SLOAlerting(**alerting))


def test_thresholds_are_exact_decimals():
    assert decimal_text(threshold(Decimal("14.4"), Decimal("0.001"))) == "0.0144"
    assert decimal_text(threshold(Decimal("6"), Decimal(1) - Decimal("99.9") / 100)) == "0.006"
    assert decimal_text(Decimal("1E+1")) == "10"
    assert decimal_text(slo("99.95").error_budget) == "0.0005"


def test_workbook_budget_fractions_for_30_days():
    # Workbook table: 2% of the budget in 1h, 5% in 6h, 10% in 1d and 10% in 3d.
    fractions = [budget_fraction(t, 30 * DAY) for t in WORKBOOK_TIERS]
    assert [round(float(f), 4) for f in fractions] == [0.02, 0.05, 0.1, 0.1]


@pytest.mark.parametrize("days", [7, 28, 30, 90])
def test_scaled_tiers_keep_the_budget_fractions(days):
    for scaled, original in zip(default_tiers(days * DAY), WORKBOOK_TIERS, strict=True):
        assert scaled.factor == original.factor
        assert abs(float(budget_fraction(scaled, days * DAY)) - float(budget_fraction(original, 30 * DAY))) < 1e-4


def test_scale_window_rounds_to_whole_seconds():
    assert scale_window(3600, 7 * DAY) == 840  # 1h over 30d -> 14m over 7d
    assert scale_window(300, 28 * DAY) == 280


def test_detection_at_full_outage_matches_the_workbook():
    budget = Decimal("0.001")
    page_fast, page_slow, ticket_fast, ticket_slow = WORKBOOK_TIERS
    # 14.4 * 0.001 of an hour: 51.84 s; 6 * 0.001 of 6 h: 129.6 s.
    assert detection_seconds(page_fast, budget) == pytest.approx(51.84)
    assert detection_seconds(page_slow, budget) == pytest.approx(129.6)
    assert detection_seconds(ticket_fast, budget) == pytest.approx(259.2)
    # A window summed from 5m rates sees the outage half a base window late.
    assert detection_seconds(ticket_fast, budget, long_base=300, short_base=300) == pytest.approx(259.2 + 150)


def test_reset_and_exhaustion():
    budget = Decimal("0.001")
    page_fast = WORKBOOK_TIERS[0]
    assert reset_seconds(page_fast, budget) == pytest.approx(300 * (1 - 0.0144))
    assert exhaustion_seconds(Decimal("14.4"), 30 * DAY) == pytest.approx(50 * 3600)
    assert exhaustion_seconds(Decimal("1"), 30 * DAY) == 30 * DAY


def test_a_90_percent_slo_cannot_reach_14_4x():
    low = slo("90")
    assert not can_fire(WORKBOOK_TIERS[0], low.error_budget)
    assert detection_seconds(WORKBOOK_TIERS[0], low.error_budget) is None
    problems = check_tiers(low, default_tiers(30 * DAY), 30)
    assert any("page-fast" in p and "can never fire" in p for p in problems)
    assert not any("ticket" in p and "never" in p for p in problems)


def test_static_check_flags_zero_and_swapped_windows():
    tiers = (BurnRateTier("zero", "critical", Decimal(2), 0, 0), BurnRateTier("swap", "warning", Decimal(2), 60, 600))
    problems = check_tiers(slo(), tiers, 30)
    assert any("zero" in p and "zero-length" in p for p in problems)
    assert any("swap" in p and "not shorter" in p for p in problems)


def test_short_windows_under_two_evaluations_are_flagged():
    problems = check_tiers(slo(days=1), default_tiers(DAY), 30)  # 5m / 30 = 10 s short window
    assert any("under two evaluation intervals" in p for p in problems)


def test_page_and_ticket_switches():
    assert [t.severity for t in tiers_for(slo(page=False))] == ["warning", "warning"]
    assert [t.severity for t in tiers_for(slo(ticket=False))] == ["critical", "critical"]
    own = (BurnRateTier("only", "critical", Decimal(10), 600, 60),)
    assert tiers_for(slo(tiers=own)) == own
