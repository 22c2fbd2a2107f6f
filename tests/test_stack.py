"""Tests of the real stack: replay server, webhook receiver, Triton, Prometheus, Alertmanager."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from slo.stack.replay import ReplayServer
from slo.stack.webhook import WebhookReceiver


def test_replay_serves_recordings_byte_for_byte_and_switches_files(shared_dir: Path) -> None:
    fixtures = shared_dir / "fixtures"
    scrape1 = fixtures / "triton_T4_7models_scrape1_sonic.prom"
    scrape2 = fixtures / "triton_T4_7models_scrape2_sonic.prom"
    dcgm = fixtures / "dcgm_L4_kops_default-counters.prom"
    with ReplayServer({"/metrics": scrape1, "/dcgm/metrics": dcgm}) as replay:
        first = requests.get(replay.url("/metrics"), timeout=5)
        assert first.status_code == 200
        assert first.content == scrape1.read_bytes()
        assert first.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert requests.get(replay.url("/dcgm/metrics"), timeout=5).content == dcgm.read_bytes()

        replay.set("/metrics", scrape2)
        assert requests.get(replay.url("/metrics"), timeout=5).content == scrape2.read_bytes()

        replay.set_status("/metrics", 503)
        assert requests.get(replay.url("/metrics"), timeout=5).status_code == 503
        assert requests.get(replay.url("/elsewhere"), timeout=5).status_code == 404
        assert replay.requests["/metrics"] == 3


def test_replay_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a file"):
        ReplayServer({"/metrics": tmp_path / "absent.prom"})


def test_webhook_records_notifications_and_waits_for_a_match() -> None:
    with WebhookReceiver() as hook:
        alert = {"status": "firing", "labels": {"alertname": "A", "model": "m"}}
        note = {"status": "firing", "alerts": [alert]}
        assert requests.post(hook.url, json=note, timeout=5).status_code == 200
        assert hook.wait_for_alert("A", timeout=2, model="m")["labels"]["model"] == "m"
        assert len(hook.alerts) == 1
        with pytest.raises(TimeoutError, match="1 received: A/firing"):
            hook.wait_for_alert("B", timeout=0.2)
