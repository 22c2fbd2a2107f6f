"""Tests of the real stack: replay server, webhook receiver, Triton, Prometheus, Alertmanager."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import requests
from harness.stack.replay import ReplayServer
from harness.stack.webhook import WebhookReceiver


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


# -- process helpers -------------------------------------------------------------------------------


def test_wait_for_url_times_out_with_the_log_tail(tmp_path: Path) -> None:
    from harness.stack.ports import free_port
    from harness.stack.process import ManagedProcess, StackError

    argv = ["bash", "-c", "echo starting up; echo still here >&2; sleep 30"]
    with ManagedProcess("Slowpoke", argv, tmp_path / "slow.log") as process:
        with pytest.raises(StackError, match=r"(?s)Slowpoke did not become ready in 0.5 s .*still here"):
            process.wait_for_url(f"http://127.0.0.1:{free_port()}/", timeout=0.5)


def test_wait_for_url_reports_an_early_exit(tmp_path: Path) -> None:
    from harness.stack.ports import free_port
    from harness.stack.process import ManagedProcess, StackError

    with ManagedProcess("Quitter", ["bash", "-c", "echo bad flag; exit 3"], tmp_path / "q.log") as process:
        with pytest.raises(StackError, match=r"(?s)Quitter exited with code 3 .*bad flag"):
            process.wait_for_url(f"http://127.0.0.1:{free_port()}/", timeout=10)


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    from harness.stack.process import ManagedProcess

    pid_file = tmp_path / "child.pid"
    # The child ignores SIGTERM, so only the group-wide SIGKILL after the grace period ends it.
    script = f"bash -c 'trap \"\" TERM; echo $$ > {pid_file}; sleep 60' & wait"
    process = ManagedProcess("Parent", ["bash", "-c", script], tmp_path / "p.log").start()
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "child never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    process.stop(timeout=1)
    time.sleep(0.2)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for an init that does not reap counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


# -- models and golden set -------------------------------------------------------------------------


def test_golden_set_contract(golden_set: Path) -> None:
    from harness.stack.models import GOLDEN_SIZE, load_digits_split

    with np.load(golden_set) as data:
        assert set(data.files) == {"inputs", "labels"}
        inputs, labels = data["inputs"], data["labels"]
    assert inputs.dtype == np.float32 and inputs.shape == (GOLDEN_SIZE, 1, 8, 8)
    assert labels.dtype == np.int64 and labels.shape == (GOLDEN_SIZE,)
    assert 0.0 <= inputs.min() and inputs.max() <= 1.0
    assert set(labels.tolist()) == set(range(10))
    split = load_digits_split()
    assert len(split.train_x) + GOLDEN_SIZE == 1797  # held out: not part of what the models learn from
    np.testing.assert_array_equal(split.golden_y, labels)  # the same split every time


def test_faults_reject_unknown_names_and_parameters() -> None:
    from harness.stack.faults import FaultError, ServedModel
    from harness.stack.models import ARCHITECTURES

    served = ServedModel("m", ARCHITECTURES["resnet_baseline"].build().eval())
    with pytest.raises(FaultError, match="unknown fault 'slow'"):
        served.set_fault("slow")
    with pytest.raises(FaultError, match="no parameter delay"):
        served.set_fault("latency", delay=1)


# -- the real stack ----------------------------------------------------------------------------------


def _golden(golden_set: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(golden_set) as data:
        return data["inputs"], data["labels"]


@pytest.mark.stack
def test_triton_serves_every_model_accurately(triton, golden_set: Path) -> None:
    inputs, labels = _golden(golden_set)
    for model in ("resnet_baseline", "resnet_deep", "resnet_concat"):
        assert triton.model_ready(model)
        logits = triton.infer(model, inputs)
        assert logits.shape == (len(labels), 10) and logits.dtype == np.float32
        assert (logits.argmax(axis=1) == labels).mean() > 0.9, model


@pytest.mark.stack
def test_statistics_api_needs_the_access_token(triton) -> None:
    assert requests.get(triton.http_url + "/v2/models/stats", timeout=10).status_code == 403
    stats = triton.statistics()
    assert {s["name"] for s in stats["model_stats"]} == {"resnet_baseline", "resnet_deep", "resnet_concat"}


@pytest.mark.stack
def test_prometheus_scrapes_triton_and_replay_and_alerts_reach_the_webhook(
    triton, replay, webhook, shared_dir: Path, prometheus_factory, alertmanager_factory, tmp_path: Path
) -> None:
    dcgm = shared_dir / "fixtures" / "dcgm_L4_kops_default-counters.prom"
    replay.set("/e2e/dcgm/metrics", dcgm)
    triton.infer("resnet_concat", np.zeros((2, 1, 8, 8), np.float32))
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n- name: e2e\n  rules:\n"
        "  - alert: E2eModelServed\n"
        "    expr: nv_inference_request_success{model=\"resnet_concat\"} > 0\n"
        "    labels: {severity: warning}\n"
    )
    webhook.clear()
    alertmanager = alertmanager_factory()
    targets = [
        {"job": "triton", "targets": [triton.metrics_address]},
        {"job": "dcgm", "url": replay.url("/e2e/dcgm/metrics")},
    ]
    prometheus = prometheus_factory(
        targets,
        rule_files=[rules],
        alertmanager_url=alertmanager.url,
    )
    success = prometheus.wait_for_series('nv_inference_request_success{job="triton"}', timeout=20, min_series=3)
    assert {s["metric"]["model"] for s in success} == {"resnet_baseline", "resnet_deep", "resnet_concat"}
    gpu = prometheus.wait_for_series('DCGM_FI_DEV_GPU_TEMP{job="dcgm"}', timeout=10)
    assert gpu[0]["metric"]["modelName"] == "NVIDIA L4"
    prometheus.wait_for_targets_up(timeout=10)

    alert = webhook.wait_for_alert("E2eModelServed", timeout=30, model="resnet_concat")
    assert alert["labels"]["job"] == "triton"

    alertmanager.post_alerts([{"labels": {"alertname": "E2eDirect", "severity": "critical"}}])
    assert webhook.wait_for_alert("E2eDirect", timeout=15)["labels"]["severity"] == "critical"
    assert {a["labels"]["alertname"] for a in alertmanager.alerts()} >= {"E2eModelServed", "E2eDirect"}


@pytest.mark.stack
def test_prometheus_reload_reports_a_bad_rule_file(prometheus_factory, tmp_path: Path) -> None:
    from harness.stack.process import StackError

    good = tmp_path / "good.yml"
    good.write_text("groups:\n- name: g\n  rules:\n  - record: one\n    expr: vector(1)\n")
    prometheus = prometheus_factory([], rule_files=[good])
    assert prometheus.wait_for_series("one", timeout=10)[0]["value"][1] == "1"
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: b\n  rules:\n  - record: two\n    expr: sum(\n")
    with pytest.raises(StackError, match="Prometheus refused to reload.*bad.yml"):
        prometheus.set_rule_files([bad])
    with pytest.raises(TimeoutError, match="'absent_series' returned 0 series"):
        prometheus.wait_for_series("absent_series", timeout=0.5)


def test_prometheus_rejects_a_target_without_job() -> None:
    from harness.stack.prometheus import Prometheus

    with pytest.raises(ValueError, match="needs 'job'"):
        Prometheus([{"targets": ["127.0.0.1:1"]}])


@pytest.mark.stack
def test_prometheus_reports_its_log_when_it_cannot_start(tmp_path: Path) -> None:
    from harness.stack.process import StackError
    from harness.stack.prometheus import Prometheus

    prometheus = Prometheus([], workdir=tmp_path, rule_files=[tmp_path / "missing.yml"])
    prometheus.rule_files = []
    prometheus.scrape_interval = "not-a-duration"
    with pytest.raises(StackError, match=r"(?s)Prometheus exited with code \d+ .*its log .*not-a-duration"):
        prometheus.start()


@pytest.mark.stack
def test_errors_fault_fails_requests_with_a_shape_error(triton_faults, prometheus_factory) -> None:
    from tritonclient.utils import InferenceServerException

    triton = triton_faults
    x = np.zeros((4, 1, 8, 8), np.float32)
    before = triton.statistics("resnet_deep")["model_stats"][0]["inference_stats"]["fail"]["count"]
    triton.set_fault("resnet_deep", "errors")
    with pytest.raises(InferenceServerException, match="must match the size"):
        triton.infer("resnet_deep", x)
    after = triton.statistics("resnet_deep")["model_stats"][0]["inference_stats"]["fail"]["count"]
    assert after == before + 1
    assert triton.infer("resnet_baseline", x).shape == (4, 10)  # the other models are unaffected
    triton.set_fault("resnet_deep", "errors", enabled=False)
    assert triton.infer("resnet_deep", x).shape == (4, 10)


@pytest.mark.stack
def test_latency_fault_slows_requests(triton_faults) -> None:
    triton = triton_faults
    x = np.zeros((1, 1, 8, 8), np.float32)

    def elapsed() -> float:
        began = time.perf_counter()
        triton.infer("resnet_baseline", x)
        return time.perf_counter() - began

    quick = min(elapsed() for _ in range(3))
    triton.set_fault("resnet_baseline", "latency", delay_s=0.3)
    assert elapsed() >= 0.3 > quick


@pytest.mark.stack
def test_accuracy_and_nonfinite_faults_change_the_outputs(triton_faults, golden_set: Path) -> None:
    triton = triton_faults
    inputs, labels = _golden(golden_set)

    def accuracy() -> float:
        return float((triton.infer("resnet_concat", inputs).argmax(axis=1) == labels).mean())

    healthy = accuracy()
    triton.set_fault("resnet_concat", "accuracy", scale=0.5)
    assert accuracy() < healthy - 0.2
    triton.set_fault("resnet_concat", "accuracy", enabled=False)
    assert accuracy() == healthy
    triton.set_fault("resnet_concat", "nonfinite")
    assert np.isnan(triton.infer("resnet_concat", inputs[:3])).all()


@pytest.mark.stack
def test_memory_fault_retains_activations(triton_faults) -> None:
    triton = triton_faults
    x = np.zeros((8, 1, 8, 8), np.float32)
    rss_before = triton.worker_status()["rss_bytes"]
    triton.set_fault("resnet_concat", "memory", mb_per_request=32, limit_mb=96)
    for _ in range(5):
        triton.infer("resnet_concat", x)
    status = triton.worker_status()
    retained = status["models"]["resnet_concat"]["retained_bytes"]
    assert 96 * 2**20 <= retained < 100 * 2**20  # capped at limit_mb
    # The allocator reuses some memory freed earlier, so RSS grows by less than what is retained.
    assert status["rss_bytes"] - rss_before > 48 * 2**20
    triton.set_fault("resnet_concat", "memory", enabled=False)
    assert triton.worker_status()["models"]["resnet_concat"]["retained_bytes"] == 0


@pytest.mark.stack
def test_unknown_fault_is_refused(triton_faults) -> None:
    with pytest.raises(ValueError, match="unknown fault 'melt'"):
        triton_faults.set_fault("resnet_deep", "melt")
    with pytest.raises(ValueError, match="not served here"):
        triton_faults.set_fault("resnet_huge", "errors")


@pytest.mark.stack
def test_load_generator_paces_requests_and_stops_by_itself(triton) -> None:
    from harness.stack.load import LoadGenerator

    before = triton.statistics("resnet_baseline")["model_stats"][0]["inference_stats"]["success"]["count"]
    began = time.monotonic()
    with LoadGenerator(triton.http_url, "resnet_baseline", rate_per_s=20, batch_size=4, duration_s=2) as load:
        stats = load.wait()
    assert time.monotonic() - began < 4
    assert stats.failed == 0, stats.errors
    # 40 slots in 2 s; on a busy machine the last one may fall past the end and is not sent.
    assert 36 <= stats.sent <= 40
    after = triton.statistics("resnet_baseline")["model_stats"][0]["inference_stats"]["success"]["count"]
    assert after - before == stats.sent


def test_load_generator_bounds() -> None:
    from harness.stack.load import LoadGenerator

    with pytest.raises(ValueError, match="duration_s"):
        LoadGenerator("http://127.0.0.1:1", "m", rate_per_s=1, batch_size=1, duration_s=0)
    with pytest.raises(ValueError, match="threads"):
        LoadGenerator("http://127.0.0.1:1", "m", rate_per_s=1, batch_size=1, duration_s=1, threads=1000)


@pytest.mark.stack
def test_a_second_triton_restarts_and_survives_a_kill(tmp_path: Path) -> None:
    """Start, crash (SIGKILL), start again from cached weights, unload, stop: nothing is left behind."""
    from harness.stack.triton import TritonServer

    server = TritonServer(models=["resnet_baseline"], workdir=tmp_path)
    with server:
        worker = server.pid
        server.kill()
        assert not server.running()
        with pytest.raises(requests.ConnectionError):
            requests.get(server.http_url + "/v2/health/live", timeout=2)
        assert not list(Path("/dev/shm").glob(f"pytrtion{worker}-*"))
        server.start()
        assert (tmp_path / "weights" / "resnet_baseline.pt").is_file()
        assert server.infer("resnet_baseline", np.zeros((1, 1, 8, 8), np.float32)).shape == (1, 10)
        server.unload_model("resnet_baseline")
        assert not server.model_ready("resnet_baseline")
        time.sleep(3)  # the worker checks Triton's liveness every second; it must stay up
        assert server.running()
        assert requests.get(server.http_url + "/v2/health/live", timeout=5).status_code == 200
        second = server.pid
    assert not server.running()
    assert not _alive(second)


def test_demo_refuses_unknown_models(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.stack.__main__ import main

    assert main(["--models", "resnet_huge"]) == 2
    assert "unknown ['resnet_huge']" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--duration", "-5"])
    assert exit_info.value.code == 2
