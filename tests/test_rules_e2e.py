"""End to end on the real stack: a served model starts failing, the page reaches the webhook."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest
from harness.generated import slo_generate
from triton_slo import rules
from triton_slo.artifacts import Options
from triton_slo.burnrate import detection_seconds
from triton_slo.model import SLO, AvailabilitySLI, ModelRef, Service, SLOAlerting, Spec, Window

pytestmark = pytest.mark.stack
MODEL = "resnet_baseline"


def test_failing_model_pages_through_alertmanager_and_clears(triton_faults, prometheus_factory,
                                                             alertmanager_factory, webhook, tmp_path: Path):
    from harness.stack.load import LoadGenerator

    # A 6h window scales the Workbook tiers by 1/120: the fast page reads 30s and 3s windows.
    slo = SLO("availability", Decimal("99"), Window(6 * 3600, "6h"), AvailabilitySLI(),
              alerting=SLOAlerting(min_events=10))
    spec = Spec(Service(name="e2e", triton_selector={"job": "triton"}, models=(ModelRef(MODEL),)), (slo,))
    slo_generate([spec], tmp_path, Options(evaluation_interval="1s"), tests=False)
    plan = rules.plan(spec, slo, 1)
    expected = detection_seconds(plan.tiers[0], plan.budget)
    am = alertmanager_factory()
    webhook.clear()
    prometheus = prometheus_factory([{"job": "triton", "targets": [triton_faults.metrics_address]}],
                                    rule_files=[tmp_path / "rules" / "e2e-slo.yaml"], alertmanager_url=am.url,
                                    scrape_interval="1s", evaluation_interval="1s")
    with LoadGenerator(triton_faults.http_url, MODEL, rate_per_s=20, batch_size=1, duration_s=150):
        prometheus.wait_for_series(f'slo:sli_error:ratio_rate3s{{model="{MODEL}"}}', timeout=60)
        time.sleep(32)  # the Workbook's timing assumes a clean long window before the outage
        assert not prometheus.alerts()
        started = time.monotonic()
        triton_faults.set_fault(MODEL, "errors", fraction=1.0)
        page = webhook.wait_for_alert("TritonSloAvailabilityBudgetBurn", 60, severity="critical",
                                      tier="page-fast", model=MODEL)
        took = time.monotonic() - started
        # Theory (4.3 s) plus a scrape, an evaluation and Alertmanager's 1s group wait; a loaded
        # CI machine gets slack, but not a minute.
        assert expected - 2 < took < expected + 20, (expected, took)
        assert page["labels"]["service"] == "e2e" and page["labels"]["slo"] == "availability"
        assert "x over 30s" in page["annotations"]["description"]
        assert page["annotations"]["runbook_url"].endswith("tritonsloavailabilitybudgetburn.md")
        triton_faults.set_fault(MODEL, "errors", enabled=False)
        # The burn stops: within the 3s short window (plus Prometheus' resolve delay) the page clears.
        webhook.wait_for_alert("TritonSloAvailabilityBudgetBurn", 90, status="resolved", tier="page-fast",
                               model=MODEL)
