"""What users expect of an exporter, and an `up` that tells the truth, each against a fake Triton of
our own on loopback that misbehaves on purpose (HTTP 500 to everything, a guarded index, an echo of
the request headers, a hang): health endpoints that fetch nothing, HEAD without a scrape, build info,
the flag aliases of node_exporter, log levels and formats, gzip;q=0, defaults of a URL without a port,
secrets kept out of every message, web-config refused at start, and a SIGTERM that stops the process
while an upstream hangs."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import bcrypt
import pytest
from harness.stack.httpserver import BackgroundHTTPServer, QuietHandler
from test_exporter_helpers import exporter_args, value
from triton_slo.cli import build_parser, main
from triton_slo.errors import UserError
from triton_slo.exporters.config import build, default_metrics_url, redact
from triton_slo.exporters.exporter import Exporter
from triton_slo.exporters.server import MetricsServer, accepts_gzip, load_web_config

REPO = Path(__file__).resolve().parents[1]
TOKEN = "tok-3f9a1c-very-secret"
MODELS = (("resnet_a", "1"), ("resnet_b", "2"))


def _metrics_text() -> bytes:
    lines = ["# HELP nv_inference_request_success Number of successful inference requests\n",
             "# TYPE nv_inference_request_success counter\n"]
    lines += [f'nv_inference_request_success{{model="{m}",version="{v}"}} 7\n' for m, v in MODELS]
    return "".join(lines).encode()


class _TritonHandler(QuietHandler):
    """A Triton HTTP API and /metrics; ``owner.mode`` says how it misbehaves."""

    def _answer(self) -> None:
        owner: FakeTriton = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        with owner.lock:
            owner.requests[path] += 1
        mode = owner.mode
        if path == "/metrics":
            if mode == "hang":
                owner.stop.wait(30)
                return
            self.send_body(200, _metrics_text(), "text/plain; version=0.0.4")
            return
        if mode == "hang":
            owner.stop.wait(30)
            return
        if mode == "500":
            self.send_json(500, {"error": "internal server error"})
            return
        if mode == "echo":  # an error body that quotes the request, headers and all
            echoed = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
            self.send_json(400, {"error": f"bad request {self.command} {path} with {echoed}"})
            return
        token_ok = self.headers.get("triton-access-token") == TOKEN
        if path in ("/v2/health/live", "/v2/health/ready"):
            self.send_body(200, b"", "text/plain")
        elif re.fullmatch(r"/v2/models/[^/]+/versions/[^/]+/ready", path):
            self.send_body(200, b"", "text/plain")
        elif re.fullmatch(r"/v2/models/[^/]+/versions/[^/]+", path):  # metadata: open, like PyTriton's
            self.send_json(200, {"name": path.split("/")[3], "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [-1, 4]}], "outputs": [
                {"name": "y", "datatype": "FP32", "shape": [-1, 2]}]})
        elif mode == "guarded" and not token_ok:
            self.send_json(401, {"error": "This API is restricted, expecting header 'triton-access-token'"})
        elif path == "/v2/repository/index":
            self.send_json(200, [{"name": m, "version": v, "state": "READY"} for m, v in MODELS])
        elif path == "/v2/models/stats":
            self.send_json(200, {"model_stats": []})
        elif path.endswith("/config"):
            self.send_json(200, {"name": path.split("/")[3], "platform": "python", "backend": "python",
                                 "max_batch_size": 8, "instance_group": [{"kind": "KIND_CPU", "count": 1}]})
        else:
            self.send_json(404, {"error": f"no route {path}"})

    do_GET = do_POST = do_HEAD = _answer


class FakeTriton(BackgroundHTTPServer):
    def __init__(self, mode: str = "ok") -> None:
        super().__init__(_TritonHandler, "fake-triton")
        self.mode = mode
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()  # set on exit: a hang ends (the server's stop() is called as below)

    def __enter__(self) -> FakeTriton:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        BackgroundHTTPServer.stop(self)

    def count(self, suffix: str) -> int:
        with self.lock:
            return sum(n for path, n in self.requests.items() if path.endswith(suffix))


def _exporter(triton: FakeTriton, **args: object) -> Exporter:
    defaults: dict[str, object] = {"triton": triton.base_url, "triton_metrics": triton.base_url + "/metrics",
                                   "timeout": "3s"}
    defaults.update(args)
    return Exporter(build(exporter_args(**defaults)))


def _scrape(exporter: Exporter, scrape_timeout: float | None = None) -> str:
    return exporter.scrape(scrape_timeout=scrape_timeout).decode()


# --- 1. up tells the truth; caches do not depend on the scraper ------------------------------------
def test_an_api_answering_500_to_everything_is_down() -> None:
    with FakeTriton("500") as triton:
        exporter = _exporter(triton)
        try:
            body = _scrape(exporter)
        finally:
            exporter.close()
    assert value(body, "triton_slo_up", upstream="triton_api") == 0
    assert value(body, "triton_slo_scrape_errors_total", upstream="triton_api", reason="api") == 1
    assert value(body, "triton_slo_up", upstream="triton") == 1  # the metrics answered: up


def test_a_healthy_api_is_up_and_lists_its_models() -> None:
    with FakeTriton("ok") as triton:
        exporter = _exporter(triton)
        try:
            body = _scrape(exporter)
        finally:
            exporter.close()
    assert value(body, "triton_slo_up", upstream="triton_api") == 1
    for model, version in MODELS:
        assert value(body, "triton_slo_model_ready", model=model, version=version) == 1


def test_scrapers_with_different_timeouts_share_the_model_config_cache() -> None:
    with FakeTriton("ok") as triton:
        exporter = _exporter(triton, timeout="4s")
        try:
            for scrape_timeout in (3.0, 2.0, 3.0, 2.0, 10.0, 2.5):  # two Prometheus jobs, taking turns
                body = _scrape(exporter, scrape_timeout)
                assert value(body, "triton_slo_up", upstream="triton_api") == 1
        finally:
            exporter.close()
        assert triton.count("/config") == len(MODELS), triton.requests  # once per model version, ever


# --- 2. secrets in messages ---------------------------------------------------------------------
def test_redact_masks_the_token_and_url_passwords() -> None:
    from triton_slo.exporters.config import Secret

    Secret("s3cr3t-token-value")
    text = redact("GET http://scraper:hunter2@10.0.0.1:9400/metrics said: triton-access-token: s3cr3t-token-value")
    assert "hunter2" not in text and "s3cr3t-token-value" not in text
    assert "http://scraper:***@10.0.0.1:9400/metrics" in text
    # a message capped at some length cuts the token short: what is left of it is masked too
    for cut in ("error: token s3cr3t-tok", "value 's3cr3t-token-va' is not an integer"):
        assert "s3cr3t" not in redact(cut) and "***" in redact(cut)


def test_the_promapi_url_password_never_reaches_a_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from harness.stack.ports import free_port
    from triton_slo.promapi import redact_url

    assert redact_url("https://user:pa55@prom.example:9090/x") == "https://user:***@prom.example:9090/x"
    spec = REPO / "examples" / "resnet-classifier.yaml"
    for fmt in ("table", "json"):
        code = main(["status", str(spec), "--prometheus", f"http://alice:pa55w0rd-x@127.0.0.1:{free_port()}",
                     "--query-timeout", "2", "--format", fmt])
        captured = capsys.readouterr()
        assert code != 0 and "127.0.0.1" in captured.err, captured.err  # the query was tried and failed
        assert "pa55w0rd-x" not in captured.err + captured.out, captured.err


def test_promapi_credentials_in_the_url_become_basic_auth_and_leave_the_shown_url() -> None:
    from triton_slo.promapi import PromAPI

    api = PromAPI("https://al%40ice:pa55w0rd@prom.example:9090/prometheus/")
    assert api.url == "https://prom.example:9090/prometheus" and api.session.auth == ("al@ice", "pa55w0rd")
    flags = PromAPI("https://x:y@prom.example", basic_auth=("flag-user", "flag-pw"))
    assert flags.session.auth == ("flag-user", "flag-pw") and "y@" not in flags.url  # flags win


# --- 3. models found in the metrics when the API's index is guarded --------------------------------
@pytest.mark.parametrize("passthrough", [True, False])
def test_models_come_from_the_metrics_when_the_index_is_guarded(passthrough: bool) -> None:
    with FakeTriton("guarded") as triton:
        exporter = _exporter(triton, no_passthrough=not passthrough)
        try:
            body = _scrape(exporter)
            again = _scrape(exporter)
        finally:
            exporter.close()
        configs = triton.count("/config")
    assert value(body, "triton_slo_up", upstream="triton_api") == 1  # health answers: it is up
    for model, version in MODELS:
        assert value(body, "triton_slo_model_ready", model=model, version=version) == 1, body[:3000]
    assert value(again, "triton_slo_scrape_errors_total", upstream="triton_api", reason="unauthorized") >= 2
    assert configs <= 1  # a guarded config is not asked again per model and scrape


def test_probes_target_the_models_the_metrics_name_when_the_index_is_guarded() -> None:
    with FakeTriton("guarded") as triton:
        exporter = _exporter(triton, no_probes=False)
        try:
            assert exporter.prober is not None
            _scrape(exporter)
            exporter.prober._refresh()  # what the scheduler runs every probes.refresh
            targets = {(t.model, t.version): t for t in exporter.prober.targets()}
        finally:
            exporter.close()
    assert set(targets) == set(MODELS)
    assert all(t.batched and t.input_name == "x" for t in targets.values())  # batching from the -1 shape


# --- 4. web config -------------------------------------------------------------------------------
def _serve(exporter: Exporter, web: Path | None = None) -> MetricsServer:
    server = MetricsServer(exporter, "127.0.0.1", 0, load_web_config(web))
    server.start()
    return server


def _get(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_a_password_over_72_bytes_is_a_401_not_a_dropped_connection(tmp_path: Path,
                                                                   capfd: pytest.CaptureFixture) -> None:
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prom: '{hashed}'\n")
    exporter = Exporter(build(exporter_args(triton="http://127.0.0.1:1", no_passthrough=True, timeout="1s")))
    server = _serve(exporter, web)
    try:
        for user in ("prom", "nobody"):
            auth = base64.b64encode(f"{user}:{'x' * 100}".encode()).decode()
            status, _, _ = _get(server.url, headers={"Authorization": f"Basic {auth}"})
            assert status == 401
        auth = base64.b64encode(b"prom:right").decode()
        assert _get(server.url, headers={"Authorization": f"Basic {auth}"})[0] == 200
    finally:
        server.stop()
        exporter.close()
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("basic_auth_users:\n  prom: '$2y$10$tooshort'\n", "basic_auth_users.prom"),
        ("basic_auth_users:\n  prom: '$2y$99$" + "a" * 53 + "'\n", "basic_auth_users.prom"),
        ("basic_auth_users:\n  - prom\n", "basic_auth_users"),
        ("basic_auth_users: prom\n", "basic_auth_users"),
        ("http_server_config:\n  headers: [X-Frame-Options]\n", "http_server_config.headers"),
        ("http_server_config:\n  headers:\n    X-Evil: \"a\\r\\nSet-Cookie: x=1\"\n", "headers.X-Evil"),
        ("http_server_config:\n  headers:\n    X-Evil: \"a\\nb\"\n", "headers.X-Evil"),
        ("http_server_config:\n  headers:\n    \"Bad Name\": x\n", "headers.Bad Name"),
        ("http_server_config:\n  headers:\n    Content-Length: '0'\n", "headers.Content-Length"),
        ("http_server_config: [headers]\n", "http_server_config"),
    ],
)
def test_bad_web_config_is_refused_at_start_with_one_line(tmp_path: Path, body: str, key: str,
                                                          capsys: pytest.CaptureFixture) -> None:
    web = tmp_path / "web.yml"
    web.write_text(body)
    with pytest.raises(UserError) as error:
        load_web_config(web)
    assert str(web) in str(error.value) and key in str(error.value) and "\n" not in str(error.value)
    code = main(["export", "--triton", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--web.config.file",
                 str(web), "--no-probes"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and key in err and "Traceback" not in err, err


# --- 5. conventions ------------------------------------------------------------------------------
def test_health_endpoints_and_head_fetch_nothing() -> None:
    with FakeTriton("hang") as triton:
        exporter = _exporter(triton, timeout="20s")
        server = _serve(exporter)
        base = server.url.removesuffix("/metrics")
        try:
            for path in ("/-/healthy", "/-/ready"):
                started = time.monotonic()
                status, _, body = _get(base + path)
                assert status == 200 and body and time.monotonic() - started < 2
            started = time.monotonic()
            status, headers, body = _get(server.url, method="HEAD")
            assert status == 200 and body == b"" and headers["Content-Type"].startswith("text/plain")
            assert time.monotonic() - started < 2
            assert sum(triton.requests.values()) == 0, triton.requests  # no upstream was asked
        finally:
            server.stop()
            exporter.close()


def test_health_endpoints_need_no_basic_auth_and_metrics_does(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prom: '{hashed}'\n")
    exporter = Exporter(build(exporter_args(triton="http://127.0.0.1:1", no_passthrough=True, timeout="1s")))
    server = _serve(exporter, web)
    try:
        assert _get(server.url.removesuffix("/metrics") + "/-/healthy")[0] == 200
        assert _get(server.url)[0] == 401
        assert _get(server.url, method="HEAD")[0] == 401
    finally:
        server.stop()
        exporter.close()


def test_build_info_and_gzip_q0(tmp_path: Path) -> None:
    from triton_slo import __version__

    with FakeTriton("ok") as triton:
        exporter = _exporter(triton)
        server = _serve(exporter)
        try:
            status, headers, body = _get(server.url, headers={"Accept-Encoding": "gzip;q=0, identity"})
            assert status == 200 and "Content-Encoding" not in headers
            text = body.decode()
            status, headers, _ = _get(server.url, headers={"Accept-Encoding": "gzip"})
            assert headers.get("Content-Encoding") == "gzip"
        finally:
            server.stop()
            exporter.close()
    line = next(line for line in text.splitlines() if line.startswith("triton_slo_build_info{"))
    assert f'version="{__version__}"' in line and 'python_version="' in line and line.endswith(" 1.0")
    assert "# TYPE triton_slo_build_info gauge" in text


@pytest.mark.parametrize(
    ("header", "expected"),
    [("", False), ("gzip", True), ("gzip;q=0", False), ("gzip; q=0.0, identity", False), ("GZIP;Q=0.5", True),
     ("*", True), ("*;q=0", False), ("identity", False), ("br, gzip;q=0.1", True), ("gzip;q=0, *", False),
     ("gzip;q=nan", False), ("x-gzip", True)],
)
def test_accept_encoding(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_flag_aliases_and_log_flags() -> None:
    parser = build_parser("export")
    args = parser.parse_args(["export", "--triton", "http://h:8000", "--web.listen-address", "127.0.0.1:9999",
                              "--web.config.file", "/w.yml", "--log.level", "debug", "--log.format", "json"])
    assert (args.listen, args.web_config, args.log_level, args.log_format) == (
        "127.0.0.1:9999", "/w.yml", "debug", "json")
    args = parser.parse_args(["export", "--triton", "http://h:8000", "--listen", ":1"])
    assert (args.log_level, args.log_format) == ("info", "logfmt")


@pytest.mark.parametrize("argv", [["--log.level", "verbose"], ["--log.format", "xml"], ["--timeout", "0s"],
                                  ["--timeout", "-1s"], ["--timeout", "soon"], ["--timeout", "0"],
                                  ["--timeout", ""]])
def test_bad_log_and_timeout_flags_are_one_line_errors(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    try:
        code = main(["export", "--triton", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--no-probes", *argv])
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err


def test_metrics_url_default_without_a_port() -> None:
    assert default_metrics_url("https://triton.example") == "https://triton.example:8002/metrics"
    assert default_metrics_url("http://triton.example/") == "http://triton.example:8002/metrics"
    assert default_metrics_url("http://10.0.0.5:8000") == "http://10.0.0.5:8002/metrics"
    assert default_metrics_url("https://[::1]:443") == "https://[::1]:445/metrics"  # a port: Triton's layout


# --- 6. the real process: SIGTERM while an upstream hangs; logs redacted and one line each ----------
def _start(argv: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "triton_slo", "export", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})}, cwd=REPO, text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90  # a busy 2-core machine imports tritonclient slowly
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"serving (https?://[^ ]+/metrics)", line)
        if match:
            return process, match.group(1), lines
    process.kill()
    process.wait(timeout=10)
    pytest.fail(f"the exporter did not start: {''.join(lines)}")


def _drain(process: subprocess.Popen, lines: list[str]) -> threading.Thread:
    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _get_quietly(url: str) -> None:
    try:
        _get(url)
    except (OSError, http.client.HTTPException):
        pass  # the exporter went away mid-scrape: expected here


def test_sigterm_stops_the_exporter_while_an_upstream_hangs() -> None:
    with FakeTriton("hang") as triton:
        process, url, lines = _start(["--triton", triton.base_url, "--triton-metrics", triton.base_url + "/metrics",
                                      "--listen", "127.0.0.1:0", "--timeout", "30s", "--no-probes"])
        reader = _drain(process, lines)
        try:
            scrapes = []
            for _ in range(3):  # scrapes in flight, each waiting on the hung upstream
                thread = threading.Thread(target=_get_quietly, args=(url,), daemon=True)
                thread.start()
                scrapes.append(thread)
            deadline = time.monotonic() + 20
            while triton.count("/metrics") == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert triton.count("/metrics") >= 1
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
            took = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        reader.join(timeout=5)
    assert process.returncode == 0, "".join(lines)
    assert took < 4.0, f"SIGTERM took {took:.1f}s to stop the exporter"  # 1 s grace; room for a busy machine
    assert "Traceback" not in "".join(lines)


@pytest.mark.parametrize("log_format", ["logfmt", "json"])
def test_logs_are_one_line_each_and_never_show_a_secret(log_format: str, tmp_path: Path) -> None:
    with FakeTriton("echo") as triton:
        process, url, lines = _start(
            ["--triton", triton.base_url, "--triton-metrics", triton.base_url + "/metrics",
             "--dcgm", f"http://scraper:hunter2-pw@127.0.0.1:{triton.port}/metrics",
             "--listen", "127.0.0.1:0", "--timeout", "2s", "--triton-token-env", "MY_TRITON_TOKEN",
             "--no-probes", "--log.format", log_format, "--log.level", "debug"],
            env={"MY_TRITON_TOKEN": TOKEN},
        )
        reader = _drain(process, lines)
        try:
            status, _, body = _get(url)
            assert status == 200 and b"triton_slo_up" in body
            assert triton.count("/v2/health/live") >= 1
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        reader.join(timeout=5)
    text = "".join(lines)
    assert TOKEN[:6] not in text and "hunter2-pw" not in text, text  # not even cut short
    assert "***" in text, text  # the echoed token was there, masked
    assert "Traceback" not in text
    for line in lines:
        if log_format == "json":
            record = json.loads(line)
            assert {"ts", "level", "msg"} <= set(record)
        else:
            assert re.match(r'ts=\S+ level=(debug|info|warn|error) caller=\S+ msg=".*"$', line.rstrip("\n")), line


def test_plain_http_client_gets_500_not_a_dropped_connection_when_a_scrape_fails() -> None:
    class Broken(Exporter):
        def scrape(self, *args: object, **kwargs: object) -> bytes:
            raise RuntimeError("a bug")

    exporter = Broken(build(exporter_args(triton="http://127.0.0.1:1", no_passthrough=True, timeout="1s")))
    server = _serve(exporter)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 500
        response.read()
        connection.close()
    finally:
        server.stop()
        exporter.close()
