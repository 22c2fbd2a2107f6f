"""Upstreams that fail: each gives `up 0`, a counted error and a prompt answer with the rest exposed.
Also: every real recording through the replay server, coalescing, content negotiation, TLS, basic auth."""

from __future__ import annotations

import base64
import gzip
import http.client
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from harness.stack.replay import ReplayServer
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from test_exporter_helpers import FIXTURES, FaultyUpstream, exporter_args, samples, timed, value
from triton_slo.exporters.config import build
from triton_slo.exporters.exporter import Exporter, Result, Upstream
from triton_slo.exporters.server import MetricsServer, load_web_config

TIMEOUT = "1s"
PROMPT_S = 2.5  # the 1 s deadline, with room for a loaded CI machine


def recording(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"real recording not found: {path}")
    return path


@pytest.fixture(scope="module")
def dcgm_upstream():
    with FaultyUpstream(recording("dcgm_T4_under-load_ericsson_no-help-type.prom").read_bytes()) as upstream:
        yield upstream


def scrape_once(**args: object) -> str:
    exporter = Exporter(build(exporter_args(timeout=TIMEOUT, **args)))
    try:
        body, took = timed(exporter.scrape)
        assert took < PROMPT_S, f"scrape took {took:.2f}s"
        return body.decode()
    finally:
        exporter.close()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/hang", "timeout"),
        ("/drip", "timeout"),
        ("/garbage", "unparseable"),
        ("/truncated", "truncated"),
        ("/cut", "truncated"),
        ("/huge", "too_large"),
        ("/huge-chunked", "too_large"),
        ("/status500", "http_status"),
        ("/notutf8", "encoding"),
    ],
)
def test_failing_triton_metrics_gives_up_0_and_keeps_the_rest(dcgm_upstream: FaultyUpstream, path: str,
                                                              reason: str) -> None:
    with FaultyUpstream(recording("triton_T4_7models_scrape1_sonic.prom").read_bytes()) as triton:
        body = scrape_once(triton_metrics=triton.base_url + path, dcgm=dcgm_upstream.base_url + "/ok")
    assert value(body, "triton_slo_up", upstream="triton") == 0
    assert value(body, "triton_slo_scrape_errors_total", upstream="triton", reason=reason) == 1
    assert value(body, "triton_slo_up", upstream="dcgm") == 1
    assert "nv_inference_count" not in body  # nothing half-read is passed on
    assert value(body, "DCGM_FI_DEV_GPU_UTIL", gpu="0", UUID="GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a",
                 pci_bus_id="00000000:37:00.0", device="nvidia0", modelName="Tesla T4", Hostname="cp-bm14r7",
                 DCGM_FI_DRIVER_VERSION="590.48.01") == 91


def test_refused_upstream_is_a_connect_error(dcgm_upstream: FaultyUpstream) -> None:
    body = scrape_once(triton_metrics="http://127.0.0.1:1/metrics", dcgm=dcgm_upstream.base_url + "/ok")
    assert value(body, "triton_slo_up", upstream="triton") == 0
    assert value(body, "triton_slo_scrape_errors_total", upstream="triton", reason="connect") == 1
    assert value(body, "triton_slo_up", upstream="triton_api") == 0
    assert value(body, "triton_slo_scrape_errors_total", upstream="triton_api", reason="connect") == 1
    assert value(body, "triton_slo_gpu_memory_headroom_ratio", gpu="0",
                 UUID="GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a", pci_bus_id="00000000:37:00.0",
                 device="nvidia0", modelName="Tesla T4", Hostname="cp-bm14r7",
                 DCGM_FI_DRIVER_VERSION="590.48.01") == pytest.approx(9791 / (9791 + 5120 + 447))


def test_bad_lines_are_skipped_and_counted_not_fatal(dcgm_upstream: FaultyUpstream) -> None:
    with FaultyUpstream(recording("triton_T4_7models_scrape2_sonic.prom").read_bytes()) as triton:
        body = scrape_once(triton_metrics=triton.base_url + "/badlines", dcgm=dcgm_upstream.base_url + "/ok")
    assert value(body, "triton_slo_up", upstream="triton") == 1
    assert value(body, "triton_slo_parse_errors_total", upstream="triton") == 3
    assert value(body, "nv_inference_request_success_total", model="gnn", version="1") == 101


def test_a_hung_upstream_is_not_asked_again_while_pending() -> None:
    """tritonclient's own timeouts are per socket call: a job can outlive its deadline. While it
    does, scrapes answer `timeout` without starting another one (one stuck thread, not one a scrape)."""
    release = threading.Event()
    calls = []

    def job(timeout: float) -> Result:
        calls.append(timeout)
        release.wait(10)
        return Result("triton_api", True, 0.0)

    upstream = Upstream("triton_api", job)
    try:
        pending = [upstream.start(0.1) for _ in range(3)]
        assert len({id(p) for p in pending}) == 1 and not pending[0].done()
        release.set()
        assert pending[0].result(timeout=5).up
        upstream.start(0.1).result(timeout=5)
        assert len(calls) == 2
    finally:
        release.set()
        upstream.close()


def test_concurrent_scrapes_share_one_upstream_fetch(dcgm_upstream: FaultyUpstream) -> None:
    with FaultyUpstream(recording("triton_T4_7models_scrape1_sonic.prom").read_bytes()) as triton:
        exporter = Exporter(build(exporter_args(timeout=TIMEOUT, triton_metrics=triton.base_url + "/slow",
                                                dcgm=dcgm_upstream.base_url + "/ok")))
        bodies: list[bytes] = []
        try:
            threads = [threading.Thread(target=lambda: bodies.append(exporter.scrape())) for _ in range(10)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)
        finally:
            exporter.close()
    assert len(bodies) == 10 and len(set(bodies)) == 1
    assert triton.requests["/slow"] == 1


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.prom")) if FIXTURES.is_dir() else [])
def test_every_recording_through_the_replay_server(name: str) -> None:
    """Each real recording, served as Triton's or dcgm-exporter's page: passed through byte for byte,
    valid in both formats, the decoded series present where the recording has their fields."""
    path = recording(name)
    is_dcgm = name.startswith("dcgm")
    with ReplayServer({"/metrics": path}) as replay:
        args = {"dcgm": replay.url("/metrics")} if is_dcgm else {"triton_metrics": replay.url("/metrics")}
        exporter = Exporter(build(exporter_args(timeout=TIMEOUT, **args)))
        try:
            plain = exporter.scrape().decode()
            om = exporter.scrape(openmetrics=True).decode()
        finally:
            exporter.close()
    original = [line for line in path.read_text().splitlines() if line.strip()]
    plain_lines = plain.splitlines()
    position = plain_lines.index(original[0])
    assert plain_lines[position: position + len(original)] == original  # byte for byte, in order
    assert value(plain, "triton_slo_up", upstream="dcgm" if is_dcgm else "triton") == 1
    list(parse_openmetrics(om))  # valid OpenMetrics, or this raises
    if is_dcgm:
        assert "triton_slo_gpu_memory_headroom_ratio{" in plain


def test_counter_reset_between_recordings_is_passed_on_unchanged() -> None:
    """scrape1 -> scrape2 of the same server, then back: the exporter forwards values as they are
    (a reset is for rate() to see, not for the exporter to hide)."""
    first = recording("triton_T4_7models_scrape1_sonic.prom")
    second = recording("triton_T4_7models_scrape2_sonic.prom")
    with ReplayServer({"/metrics": first}) as replay:
        exporter = Exporter(build(exporter_args(timeout=TIMEOUT, triton_metrics=replay.url("/metrics"))))
        try:
            seen = []
            for path in (first, second, first):
                replay.set("/metrics", path)
                body = exporter.scrape().decode()
                seen.append(value(body, "nv_inference_request_success_total", model="gnn", version="1"))
        finally:
            exporter.close()
    assert seen == [1, 101, 1]


def test_no_passthrough_leaves_upstream_families_out(dcgm_upstream: FaultyUpstream) -> None:
    body = scrape_once(dcgm=dcgm_upstream.base_url + "/ok", no_passthrough=True)
    assert not [name for name, _ in samples(body) if name.startswith(("DCGM_", "nv_"))]
    assert value(body, "triton_slo_up", upstream="dcgm") == 1
    assert value(body, "triton_slo_up", upstream="triton") is None  # not fetched at all
    assert "triton_slo_gpu_memory_headroom_ratio{" in body  # decoding still runs


# --- the HTTP server ------------------------------------------------------------------------------
def _serve(exporter: Exporter, web_config: Path | None = None) -> MetricsServer:
    server = MetricsServer(exporter, "127.0.0.1", 0, load_web_config(web_config))
    server.start()
    return server


def test_content_negotiation_and_gzip(dcgm_upstream: FaultyUpstream) -> None:
    exporter = Exporter(build(exporter_args(timeout=TIMEOUT, dcgm=dcgm_upstream.base_url + "/ok")))
    server = _serve(exporter)
    try:
        with urllib.request.urlopen(server.url, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            plain = response.read().decode()
        prometheus_accept = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                             "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
        request = urllib.request.Request(server.url, headers={"Accept": prometheus_accept,
                                                              "Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            assert response.headers["Content-Encoding"] == "gzip"
            om = gzip.decompress(response.read()).decode()
    finally:
        server.stop()
        exporter.close()
    assert om.endswith("# EOF\n")
    assert {f.name for f in parse_openmetrics(om)} >= {"triton_slo_up", "DCGM_FI_DEV_GPU_UTIL"}
    assert samples(plain)


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def test_tls_and_basic_auth_from_web_config(tmp_path: Path, dcgm_upstream: FaultyUpstream) -> None:
    cert, key = _certificate(tmp_path)
    hashed = bcrypt.hashpw(b"scrape-secret", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
                   f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    exporter = Exporter(build(exporter_args(timeout=TIMEOUT, dcgm=dcgm_upstream.base_url + "/ok")))
    server = _serve(exporter, web)
    context = ssl.create_default_context(cafile=str(cert))
    try:
        assert server.url.startswith("https://")
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(server.url, context=context, timeout=10)
        assert denied.value.code == 401
        for password, expected in ((b"wrong", 401), (b"scrape-secret", 200), (b"scrape-secret", 200)):
            auth = base64.b64encode(b"prometheus:" + password).decode()
            request = urllib.request.Request(server.url, headers={"Authorization": f"Basic {auth}"})
            try:
                with urllib.request.urlopen(request, context=context, timeout=10) as response:
                    status = response.status
                    assert b"triton_slo_up" in response.read()
            except urllib.error.HTTPError as exc:
                status = exc.code
            assert status == expected
        with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
            # plain HTTP to the TLS port gets no answer
            urllib.request.urlopen(server.url.replace("https", "http"), timeout=10)
    finally:
        server.stop()
        exporter.close()


def test_bad_web_config_is_a_one_line_error(tmp_path: Path) -> None:
    from triton_slo.errors import UserError

    web = tmp_path / "web.yml"
    for body, message in [
        ("basic_auth_users:\n  p: plaintext\n", "expected a bcrypt hash"),
        ("tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n", "cannot load"),
        ("tls_server_config:\n  cipher_suites: [x]\n", "not supported"),
        ("tls_config: {}\n", "unknown key"),
    ]:
        web.write_text(body)
        with pytest.raises(UserError, match=message) as error:
            load_web_config(web)
        assert "\n" not in str(error.value)
