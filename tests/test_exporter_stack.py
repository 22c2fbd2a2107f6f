"""The exporter against the real stack: Triton (PyTriton, CPU), Prometheus, recordings via the replay server."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_exporter_helpers import TcpForwarder, exporter_args, value
from triton_slo.exporters.config import build
from triton_slo.exporters.exporter import Exporter
from triton_slo.exporters.server import MetricsServer, load_web_config

pytestmark = pytest.mark.stack
MODELS = ("resnet_baseline", "resnet_deep", "resnet_concat")


def wait_until(check, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"{what}: not true after {timeout:g}s (last: {last!r})")


def scalar(prometheus, expr: str) -> dict[tuple[str, str], float]:  # noqa: ANN001
    return {(r["metric"].get("model", ""), r["metric"].get("version", "")): float(r["value"][1])
            for r in prometheus.query(expr)}


@pytest.fixture
def stack_exporter(triton, golden_set: Path, replay, shared_dir: Path, tmp_path: Path):  # noqa: ANN001, ANN201
    """The exporter on the session's Triton (through fixed-port forwarders, so a restart on new ports
    looks like a restart on the same ports) and a dcgm-exporter recording, probing every 0.3 s."""
    http = TcpForwarder(lambda: triton.http_address)
    metrics = TcpForwarder(lambda: triton.metrics_address)
    token = tmp_path / "token"
    token.write_text(triton.access_token + "\n")
    replay.set("/exporter-stack/dcgm/metrics", shared_dir / "fixtures" / "dcgm_L4_kops_default-counters.prom")
    config = build(exporter_args(
        triton=f"http://{http.address}", triton_metrics=f"http://{metrics.address}/metrics",
        dcgm=replay.url("/exporter-stack/dcgm/metrics"), triton_token_file=str(token), golden=str(golden_set),
        no_probes=False, timeout="2s",
    ))
    config = dataclasses.replace(config, probes=dataclasses.replace(
        config.probes, interval_s=0.3, golden_interval_s=0.3, refresh_s=1.0, max_requests_per_second=30))
    exporter = Exporter(config)
    server = MetricsServer(exporter, "127.0.0.1", 0, load_web_config(None))
    server.start()
    exporter.start()
    try:
        yield exporter, server
    finally:
        server.stop()
        exporter.close()
        http.close()
        metrics.close()
        if not triton.running():
            triton.start()
        elif not all(triton.model_ready(model) for model in MODELS):
            triton.restart()  # PyTriton cannot load an unloaded model back in the same process
        triton.clear_faults()


def test_prometheus_answers_the_slo_questions_from_the_exporter(stack_exporter, triton, prometheus_factory) -> None:  # noqa: ANN001
    exporter, server = stack_exporter
    prometheus = prometheus_factory([{"job": "triton-slo", "url": server.url}])
    for model in MODELS:
        prometheus.wait_for_series(f'triton_slo_model_ready{{model="{model}"}} == 1', timeout=30)
    prometheus.wait_for_series("triton_slo_golden_total > 16", timeout=40, min_series=3)
    time.sleep(3)  # a few more scrapes for rate()

    requests = scalar(prometheus, "sum by (model, version) (rate(nv_inference_request_success[10s]))")
    assert set(requests) == {(m, "1") for m in MODELS} and all(v > 0 for v in requests.values())
    p99 = scalar(prometheus, "histogram_quantile(0.99, sum by (le, model, version) "
                             "(rate(triton_slo_probe_latency_seconds_bucket[10s])))")
    assert set(p99) == {(m, "1") for m in MODELS} and all(0 < v < 5 for v in p99.values()), p99
    accuracy = scalar(prometheus, "sum by (model, version) (increase(triton_slo_golden_correct_total[1m])) / "
                                  "sum by (model, version) (increase(triton_slo_golden_total[1m]))")
    assert set(accuracy) == {(m, "1") for m in MODELS} and all(v > 0.9 for v in accuracy.values()), accuracy
    info = prometheus.query('triton_slo_model_info{model="resnet_deep"}')[0]["metric"]
    assert (info["backend"], info["instance_kind"], info["dynamic_batching"]) == ("python", "cpu", "true")
    headroom = prometheus.query("triton_slo_gpu_memory_headroom_ratio")
    assert headroom and headroom[0]["metric"]["modelName"] == "NVIDIA L4"
    # On CPU there is no model-to-GPU row: the join returns nothing rather than something made up.
    assert prometheus.query("triton_slo_model_gpu_info") == []


def test_probes_see_failures_and_accuracy_loss(stack_exporter, triton) -> None:  # noqa: ANN001
    exporter, _ = stack_exporter
    stats = exporter.prober.stats
    wait_until(lambda: stats.value("resnet_deep", "1", "success") > 2, 30, "first probes")
    errors_before = stats.value("resnet_deep", "1", "error")
    triton.set_fault("resnet_deep", "errors")
    wait_until(lambda: stats.value("resnet_deep", "1", "error") >= errors_before + 3, 20, "probe errors")
    triton.clear_faults()
    total, correct = stats.value("resnet_concat", "1", "total"), stats.value("resnet_concat", "1", "correct")
    triton.set_fault("resnet_concat", "nonfinite")
    wait_until(lambda: stats.value("resnet_concat", "1", "nonfinite") > 0, 20, "non-finite golden outputs")
    triton.clear_faults()
    assert stats.value("resnet_concat", "1", "total") > total
    assert stats.value("resnet_concat", "1", "correct") >= correct
    body = exporter.scrape().decode()
    assert value(body, "triton_slo_probe_requests_total", model="resnet_deep", version="1", result="error") > 0


def test_unload_then_kill_and_restart(stack_exporter, triton) -> None:  # noqa: ANN001
    exporter, _ = stack_exporter

    def page() -> str:
        return exporter.scrape().decode()

    wait_until(lambda: (value(page(), "nv_inference_request_success_total", model="resnet_deep",
                              version="1") or 0) > 3, 30, "probe traffic on resnet_deep")
    triton.unload_model("resnet_deep")
    body = wait_until(lambda: (b := page()) and value(b, "triton_slo_model_ready", model="resnet_deep",
                                                      version="1") == 0 and b, 15, "resnet_deep not ready")
    assert value(body, "triton_slo_model_ready", model="resnet_baseline", version="1") == 1
    assert value(body, "triton_slo_up", upstream="triton_api") == 1
    # the probes follow the server: no more requests to the unloaded version after a refresh
    wait_until(lambda: ("resnet_deep", "1") not in {(t.model, t.version) for t in exporter.prober.targets()},
               10, "resnet_deep dropped from the probe targets")
    before = value(page(), "nv_inference_request_success_total", model="resnet_baseline", version="1")
    assert before and before > 0

    triton.kill()
    body, took = _timed(page)
    assert took < 3
    assert value(body, "triton_slo_up", upstream="triton") == 0
    assert value(body, "triton_slo_up", upstream="triton_api") == 0
    assert value(body, "triton_slo_up", upstream="dcgm") == 1  # everything else still exposed
    assert value(body, "triton_slo_model_ready", model="resnet_baseline", version="1") is None  # unknown, not 0
    triton.start()
    body = wait_until(lambda: (b := page()) and value(b, "triton_slo_up", upstream="triton") == 1
                      and value(b, "triton_slo_up", upstream="triton_api") == 1 and b, 30, "up again")
    after = value(body, "nv_inference_request_success_total", model="resnet_baseline", version="1")
    assert after is not None and after < before  # the counter restarted from 0 with the server
    assert value(body, "triton_slo_model_ready", model="resnet_deep", version="1") == 1  # served again
    assert value(body, "triton_slo_scrape_errors_total", upstream="triton", reason="connect") >= 1


def _timed(func):  # noqa: ANN001, ANN202
    started = time.monotonic()
    result = func()
    return result, time.monotonic() - started


def test_cli_serves_the_real_triton(triton, golden_set: Path, tmp_path: Path) -> None:  # noqa: ANN001
    """`triton-slo export` as a user runs it, with the token from an environment variable."""
    from harness.stack.ports import free_port

    port = free_port()
    env = {**os.environ, "TRITON_TOKEN": triton.access_token}
    process = subprocess.Popen(
        [sys.executable, "-m", "triton_slo", "export", "--triton", triton.http_url,
         "--triton-metrics", triton.metrics_url,
         "--listen", f"127.0.0.1:{port}", "--triton-token-env", "TRITON_TOKEN", "--golden", str(golden_set)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=Path(__file__).resolve().parents[1],
    )
    try:
        def scraped() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    return response.read().decode()
            except OSError:
                return None

        body = wait_until(scraped, 30, "the exporter answers")
        assert value(body, "triton_slo_up", upstream="triton_api") == 1
        assert value(body, "triton_slo_model_ready", model="resnet_concat", version="1") == 1
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err.decode()
    assert triton.access_token not in err.decode()  # the token is never printed
