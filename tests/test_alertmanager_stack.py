"""On the real stack: Triton (PyTriton, CPU) -> Prometheus with the generated rules -> Alertmanager
with the generated routing and inhibition -> the test webhook.

A model made to fail pages once, with its runbook URL, and the ticket of the same SLO (fired by
the real rules too) is inhibited; stopping Triton raises the endpoint-down page while the
per-model alerts of that server (posted to the same Alertmanager) stay inhibited.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.generated import run_generate
from triton_slo.alerts.alertmanager import build, retarget
from triton_slo.artifacts import Options
from triton_slo.model import SLO, AvailabilitySLI, ModelRef, SLOAlerting, Spec, Window
from triton_slo.readers import load_spec

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[1]
BURN = "TritonSloAvailabilityBudgetBurn"
FAILING = "resnet_deep"


def stack_spec(out: Path) -> Spec:
    """The example's service and receivers, on the stack's models, with one availability SLO."""
    base = load_spec(str(ROOT / "examples" / "resnet-classifier.yaml"))
    service = dataclasses.replace(
        base.service, runbook_base_url=str(out / "runbooks"), labels={},
        models=tuple(ModelRef(m) for m in ("resnet_baseline", "resnet_deep", "resnet_concat")))
    availability = SLO(name="availability", objective=base.slos[0].objective, window=Window(30 * 86400, "30d"),
                       sli=AvailabilitySLI(), alerting=SLOAlerting(min_events=20))
    alerting = dataclasses.replace(base.alerting, mute_intervals=())
    return Spec(service=service, slos=(availability,), alerting=alerting, path="stack-spec")


def wait_state(am: Any, alertname: str, state: str, timeout: float, **labels: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [a for a in am.alerts() if a["labels"].get("alertname") == alertname
                 and all(a["labels"].get(k) == v for k, v in labels.items())]
        if any(a["status"]["state"] == state for a in found):
            return next(a for a in found if a["status"]["state"] == state)
        if time.monotonic() > deadline:
            raise AssertionError(f"{alertname} {labels}: not {state} after {timeout} s: {found}")
        time.sleep(0.5)


def notified(webhook: Any, alertname: str, **labels: str) -> list[dict[str, Any]]:
    """Notifications holding a firing alert of that name and labels."""
    return [n for n in webhook.alerts if any(
        a["labels"].get("alertname") == alertname and a["status"] == "firing"
        and all(a["labels"].get(k) == v for k, v in labels.items()) for a in n.get("alerts", []))]


def posted(alertname: str, severity: str, **labels: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {"labels": {"alertname": alertname, "severity": severity, "service": "resnet-classifier", **labels},
            "startsAt": now.isoformat(), "endsAt": (now + dt.timedelta(minutes=10)).isoformat()}


def test_real_page_inhibition_and_endpoint_down(triton, webhook, prometheus_factory, alertmanager_factory,
                                                 tmp_path: Path) -> None:
    from harness.stack.load import LoadGenerator

    out = tmp_path / "out"
    spec = stack_spec(out)
    run_generate([spec], out, Options(evaluation_interval="1s"))
    # Pages batched for 3 s and not re-sent within the test: "pages once" as in production.
    config = retarget(build([spec]).config, webhook.url, group_wait="3s", group_interval="5m")
    am = alertmanager_factory(yaml.safe_dump(config, sort_keys=False))
    webhook.clear()
    rule_files = sorted((out / "rules").glob("*.yaml"))
    prometheus = prometheus_factory([{"job": "triton", "targets": [triton.metrics_address]}],
                                    rule_files=rule_files, alertmanager_url=am.url,
                                    scrape_interval="1s", evaluation_interval="1s")
    try:
        prometheus.wait_for_series('nv_inference_request_success{job="triton"}', timeout=30, min_series=3)
        # 1. A model made to fail: every request hits a residual block whose skip connection
        #    does not match its channels (a real shape error in PyTorch).
        triton.set_fault(FAILING, "errors", fraction=1.0)
        with LoadGenerator(triton.http_url, FAILING, rate_per_s=20, batch_size=1, duration_s=120):
            page = webhook.wait_for_alert(BURN, 90, severity="critical", model=FAILING)
            runbook = Path(page["annotations"]["runbook_url"])
            assert runbook.name == "tritonsloavailabilitybudgetburn.md" and runbook.is_file()
            assert "## Mitigation" in runbook.read_text()
            assert page["annotations"]["dashboard_url"].startswith("https://grafana.example.com/d/")
            # The real ticket tiers of the same SLO and model fire too, and are inhibited.
            ticket = wait_state(am, BURN, "suppressed", 60, severity="warning", model=FAILING)
            assert ticket["status"]["inhibitedBy"] and ticket["labels"]["slo"] == "availability"
            time.sleep(5)
        pages = notified(webhook, BURN, severity="critical", model=FAILING)
        assert len(pages) == 1, f"paged {len(pages)} times"
        assert pages[0]["receiver"] == "ml-oncall-pager"
        assert not notified(webhook, BURN, severity="warning")
        triton.set_fault(FAILING, "errors", enabled=False)

        # 2. Stop Triton: Prometheus' scrape fails, TritonSloServerDown pages after its 1m `for`.
        triton.stop()
        down = webhook.wait_for_alert("TritonSloServerDown", 120, job="triton")
        assert down["annotations"]["runbook_url"].endswith("tritonsloserverdown.md")
        am.post_alerts([posted("TritonSloModelNotReady", "critical", model=FAILING, version="1"),
                        posted("TritonSloP99LatencyHigh", "critical", model="resnet_concat", version="1"),
                        posted("TritonSloExporterUpstreamDown", "critical", upstream="triton_api")])
        for name in ("TritonSloModelNotReady", "TritonSloP99LatencyHigh", "TritonSloExporterUpstreamDown"):
            assert wait_state(am, name, "suppressed", 20)["status"]["inhibitedBy"]
        time.sleep(4)  # past the page route's group_wait: nothing of theirs may reach the webhook
        for name in ("TritonSloModelNotReady", "TritonSloP99LatencyHigh", "TritonSloExporterUpstreamDown"):
            assert not notified(webhook, name)
    finally:
        if not triton.running():
            triton.start()
        triton.clear_faults()
