"""OUT/alertmanager.yaml: amtool checks it and proves the routes; a live Alertmanager proves inhibition
and mute intervals (amtool cannot test those)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.generated import ops_generate as generate
from triton_slo.alerts.alertmanager import build, inhibit_rules, retarget
from triton_slo.artifacts import Options
from triton_slo.errors import UserError
from triton_slo.model import MuteInterval, Receiver, ServiceAlerting, Spec
from triton_slo.readers import load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "resnet-classifier.yaml"


def amtool() -> str:
    binary = shutil.which("amtool")
    if not binary:
        pytest.skip("amtool is not installed (Debian package prometheus-alertmanager)")
    return binary


def example() -> Spec:
    return load_spec(str(EXAMPLE))


def second_spec() -> Spec:
    """Another service with a webhook from a file, an email ticket queue and no mute intervals."""
    base = example()
    alerting = ServiceAlerting(
        receivers=(Receiver("search-pager", "webhook", url_file="/etc/alertmanager/secrets/search-hook"),
                   Receiver("search-mail", "email", to="search-team@example.com")),
        page_receiver="search-pager", ticket_receiver="search-mail", group_by=("service", "model", "node_pool"))
    return dataclasses.replace(base, service=dataclasses.replace(base.service, name="search-ranker"),
                               alerting=alerting, path="search.yaml")


def write_config(tmp_path: Path, specs: list[Spec]) -> Path:
    generate(specs, tmp_path, Options())
    return tmp_path / "alertmanager.yaml"


def routes_to(config: Path, **labels: str) -> str:
    argv = [amtool(), "config", "routes", "test", f"--config.file={config}",
            *(f"{k}={v}" for k, v in labels.items())]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_amtool_check_config_passes(tmp_path: Path) -> None:
    config = write_config(tmp_path, [example(), second_spec()])
    done = subprocess.run([amtool(), "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "6 inhibit rules" in done.stdout and "4 receivers" in done.stdout


ROUTES = [
    # (labels, receiver): every kind of alert of both services
    ({"alertname": "TritonSloAvailabilityBudgetBurn", "severity": "critical", "service": "resnet-classifier",
      "slo": "availability", "model": "resnet_deep", "version": "1", "tier": "page-fast"}, "ml-oncall-pager"),
    ({"alertname": "TritonSloAvailabilityBudgetBurn", "severity": "warning", "service": "resnet-classifier",
      "slo": "availability", "model": "resnet_deep", "version": "1", "tier": "ticket-slow"}, "ml-platform-tickets"),
    ({"alertname": "TritonSloServerDown", "severity": "critical", "service": "resnet-classifier"},
     "ml-oncall-pager"),
    ({"alertname": "TritonSloGpuThrottling", "severity": "warning", "service": "resnet-classifier", "gpu": "0"},
     "ml-platform-tickets"),
    ({"alertname": "TritonSloNoTraffic", "severity": "warning", "service": "resnet-classifier",
      "slo": "availability"}, "ml-platform-tickets"),
    ({"alertname": "TritonSloCanaryRegression", "severity": "warning", "service": "resnet-classifier"},
     "ml-platform-tickets"),
    ({"alertname": "TritonSloGpuLost", "severity": "critical", "service": "search-ranker", "xid": "79"},
     "search-pager"),
    ({"alertname": "TritonSloQueueTimeGrowing", "severity": "warning", "service": "search-ranker"}, "search-mail"),
    # an unexpected severity of a known service: a ticket, not lost
    ({"alertname": "TritonSloServerDown", "severity": "info", "service": "search-ranker"}, "search-mail"),
    # no service we know: the first spec's ticket queue, not dropped
    ({"alertname": "SomethingElse", "severity": "critical", "service": "unknown"}, "ml-platform-tickets"),
]


def test_amtool_routes_every_alert_to_the_receiver_the_spec_names(tmp_path: Path) -> None:
    config = write_config(tmp_path, [example(), second_spec()])
    for labels, receiver in ROUTES:
        assert routes_to(config, **labels) == receiver, labels


def test_secrets_stay_in_files_and_notifications_carry_the_runbook(tmp_path: Path) -> None:
    built = build([example(), second_spec()])
    assert any("cannot read a webhook URL from a file" in w and "search-hook" in w for w in built.warnings)
    config = yaml.safe_load(write_config(tmp_path, [example(), second_spec()]).read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    pagerduty = receivers["ml-oncall-pager"]["pagerduty_configs"][0]
    assert pagerduty["routing_key_file"] == "/etc/alertmanager/secrets/pagerduty-routing-key"
    assert "routing_key" not in pagerduty and any("runbook_url" in link["href"] for link in pagerduty["links"])
    slack = receivers["ml-platform-tickets"]["slack_configs"][0]
    assert slack["api_url_file"] == "/etc/alertmanager/secrets/slack-webhook-url" and "api_url" not in slack
    assert "runbook_url" in slack["text"] and slack["channel"] == "#ml-platform-alerts"
    assert receivers["search-pager"]["webhook_configs"][0]["url"].startswith("http://alert-receiver.invalid/")
    assert config["global"]["smtp_smarthost"]  # email needs it; a placeholder the user fills
    service_route = config["route"]["routes"][1]
    assert service_route["group_by"] == ["service", "model", "node_pool"]


def test_mute_intervals_become_time_intervals_on_the_ticket_route(tmp_path: Path) -> None:
    config = yaml.safe_load(write_config(tmp_path, [example()]).read_text())
    assert config["time_intervals"] == [{"name": "resnet-classifier-weekly-retraining", "time_intervals": [
        {"weekdays": ["sunday"], "times": [{"start_time": "02:00", "end_time": "04:00"}], "location": "UTC"}]}]
    page, ticket = config["route"]["routes"][0]["routes"]
    assert "mute_time_intervals" not in page
    assert ticket["mute_time_intervals"] == ["resnet-classifier-weekly-retraining"]


def test_every_equal_label_is_required_on_both_sides() -> None:
    """Alertmanager counts a label missing on both sides as equal: each must be matched as present."""
    for rule in inhibit_rules():
        for side in ("source_matchers", "target_matchers"):
            required = {m.split("=~")[0] for m in rule[side] if m.endswith('=~".+"')}
            # version is the exception: absent on both means "every version" of the same model
            assert set(rule["equal"]) - {"version"} <= required, (rule, side)


def test_a_receiver_defined_twice_differently_is_refused() -> None:
    other = second_spec()
    clash = dataclasses.replace(other, alerting=dataclasses.replace(
        other.alerting, receivers=(Receiver("ml-oncall-pager", "webhook", url="http://example.com/hook"),
                                   *other.alerting.receivers)))
    clash_message = "^search.yaml: receiver 'ml-oncall-pager' is defined differently in .*resnet-classifier.yaml"
    with pytest.raises(UserError, match=clash_message):
        build([example(), clash])
    with pytest.raises(UserError, match="no spec"):
        build([])


def test_a_weekday_range_alertmanager_would_refuse_is_a_user_error() -> None:
    backwards = MuteInterval("maintenance", ({"weekdays": ["monday:sunday"]},))
    spec = dataclasses.replace(example(), alerting=dataclasses.replace(example().alerting,
                                                                       mute_intervals=(backwards,)))
    with pytest.raises(UserError, match="'monday:sunday' runs backwards .* monday:saturday and sunday:sunday"):
        build([spec])


# --- a live Alertmanager ------------------------------------------------------------------------

def live_config(specs: list[Spec], webhook_url: str) -> str:
    """The generated configuration with every receiver pointed at the test webhook, timings short."""
    return yaml.safe_dump(retarget(build(specs).config, webhook_url), sort_keys=False)


def alert(alertname: str, severity: str, **labels: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "labels": {"alertname": alertname, "severity": severity, "service": "resnet-classifier", **labels},
        "annotations": {"runbook_url": f"https://runbooks.example.com/{alertname.lower()}.md"},
        "startsAt": now.isoformat(), "endsAt": (now + dt.timedelta(minutes=10)).isoformat(),
    }


def wait_state(am: Any, alertname: str, state: str, timeout: float = 15, **labels: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [a for a in am.alerts() if a["labels"].get("alertname") == alertname
                 and all(a["labels"].get(k) == v for k, v in labels.items())]
        if found and found[0]["status"]["state"] == state:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"{alertname} {labels}: not {state} in {timeout} s: {found}")
        time.sleep(0.2)


def delivered(webhook: Any, alertname: str, **labels: str) -> list[dict[str, Any]]:
    return [a for a in webhook.received_alerts() if a["labels"].get("alertname") == alertname
            and all(a["labels"].get(k) == v for k, v in labels.items())]


BURN = "TritonSloAvailabilityBudgetBurn"
MODEL = {"slo": "availability", "model": "resnet_deep", "version": "1"}


def test_a_page_inhibits_the_ticket_of_its_slo_and_model_only(alertmanager_factory, webhook, tmp_path) -> None:
    spec = dataclasses.replace(example(), alerting=dataclasses.replace(example().alerting, mute_intervals=()))
    am = alertmanager_factory(live_config([spec], webhook.url))
    webhook.clear()
    am.post_alerts([alert(BURN, "critical", tier="page-fast", **MODEL)])
    page = webhook.wait_for_alert(BURN, 15, severity="critical", model="resnet_deep")
    assert page["annotations"]["runbook_url"].endswith("tritonsloavailabilitybudgetburn.md")
    assert page["labels"]["severity"] == "critical"
    am.post_alerts([
        alert(BURN, "warning", tier="ticket-fast", **MODEL),  # same SLO and model: inhibited
        alert("TritonSloQueueTimeGrowing", "warning", model="resnet_deep", version="1"),  # same model: inhibited
        alert(BURN, "warning", tier="ticket-fast", slo="availability", model="resnet_concat", version="1"),
        # The trap: no slo and no model on either side must not count as "the same".
        alert("TritonSloGpuThrottling", "warning", gpu="0", UUID="GPU-1", reason="hw_thermal_slowdown"),
    ])
    webhook.wait_for_alert(BURN, 15, severity="warning", model="resnet_concat")
    webhook.wait_for_alert("TritonSloGpuThrottling", 15)
    ticket = wait_state(am, BURN, "suppressed", severity="warning", model="resnet_deep")
    assert ticket["status"]["inhibitedBy"]
    wait_state(am, "TritonSloQueueTimeGrowing", "suppressed")
    time.sleep(2)  # several group intervals: anything not inhibited would have been sent by now
    assert not delivered(webhook, BURN, severity="warning", model="resnet_deep")
    assert not delivered(webhook, "TritonSloQueueTimeGrowing")
    assert len(delivered(webhook, BURN, severity="critical")) == 1  # paged once


def test_a_page_without_slo_does_not_inhibit_tickets_without_slo(alertmanager_factory, webhook) -> None:
    am = alertmanager_factory(live_config([example()], webhook.url))
    webhook.clear()
    am.post_alerts([alert("TritonSloGpuLost", "critical", gpu="1", UUID="GPU-2", xid="79"),
                    alert("TritonSloGpuMemoryHeadroomLow", "warning", gpu="0", UUID="GPU-1")])
    webhook.wait_for_alert("TritonSloGpuLost", 15)
    webhook.wait_for_alert("TritonSloGpuMemoryHeadroomLow", 15)  # another GPU: still a ticket
    am.post_alerts([alert("TritonSloGpuThrottling", "warning", gpu="1", UUID="GPU-2", reason="sw_power_cap")])
    wait_state(am, "TritonSloGpuThrottling", "suppressed")  # the lost GPU's own ticket


def test_triton_down_inhibits_the_per_model_alerts_of_its_service(alertmanager_factory, webhook) -> None:
    am = alertmanager_factory(live_config([example(), second_spec()], webhook.url))
    webhook.clear()
    am.post_alerts([alert("TritonSloServerDown", "critical", instance="triton-0:8002", job="triton")])
    webhook.wait_for_alert("TritonSloServerDown", 15)
    am.post_alerts([
        alert("TritonSloModelNotReady", "critical", model="resnet_deep", version="1"),
        alert(BURN, "critical", tier="page-fast", **MODEL),
        alert("TritonSloExporterUpstreamDown", "critical", upstream="triton_api"),
        alert("TritonSloModelNotReady", "critical", model="ranker", version="1", service="search-ranker"),
    ])
    webhook.wait_for_alert("TritonSloModelNotReady", 15, service="search-ranker")  # another service pages
    for name, labels in (("TritonSloModelNotReady", {"service": "resnet-classifier"}), (BURN, {}),
                         ("TritonSloExporterUpstreamDown", {})):
        wait_state(am, name, "suppressed", **labels)
    time.sleep(2)
    assert not delivered(webhook, "TritonSloModelNotReady", service="resnet-classifier")
    assert not delivered(webhook, BURN) and not delivered(webhook, "TritonSloExporterUpstreamDown")


def test_a_mute_interval_silences_tickets_but_not_pages(alertmanager_factory, webhook) -> None:
    always = MuteInterval("retraining", ({"weekdays": ["sunday:saturday"],
                                          "times": [{"start_time": "00:00", "end_time": "24:00"}]},), ("warning",))
    base = example()
    muted = dataclasses.replace(base, alerting=dataclasses.replace(base.alerting, mute_intervals=(always,)))
    am = alertmanager_factory(live_config([muted, second_spec()], webhook.url))
    webhook.clear()
    am.post_alerts([
        alert("TritonSloGpuMemoryHeadroomLow", "warning", gpu="0", UUID="GPU-1"),
        alert("TritonSloGpuLost", "critical", gpu="3", UUID="GPU-3", xid="48"),
        alert("TritonSloQueueTimeGrowing", "warning", service="search-ranker", model="ranker", version="1"),
    ])
    webhook.wait_for_alert("TritonSloGpuLost", 15)
    webhook.wait_for_alert("TritonSloQueueTimeGrowing", 15, service="search-ranker")  # not muted there
    time.sleep(3)
    assert not delivered(webhook, "TritonSloGpuMemoryHeadroomLow")
