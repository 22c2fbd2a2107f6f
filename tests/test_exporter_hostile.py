"""Hostile upstreams: bad values, wrong JSON shapes, adversarial lines, trickles and huge answers.

Each test runs an upstream of its own on loopback (Triton's /metrics and HTTP API and dcgm-exporter
on one server, every answer switchable), bounded in time and stopped. Whatever an upstream sends,
the page is served in time, parseable, with ``triton_slo_up`` of the other upstreams intact; a bad
value costs at most the series derived from it, counted; a hostile answer costs its upstream, and
the next scrape after the upstream recovers reads ``up 1`` again. Timings are generous absolute
bounds, and ratios where scaling is the point: the machine running them may be busy.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from harness.stack.httpserver import BackgroundHTTPServer, QuietHandler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families
from test_exporter_helpers import exporter_args, samples, timed, value
from triton_slo.exporters import dcgm, textparse
from triton_slo.exporters.config import build
from triton_slo.exporters.exporter import Exporter
from triton_slo.exporters.fetch import FetchError, fetch, fetch_text
from triton_slo.exporters.triton_api import BadValue, index_entry, stats_key, summarize_config, summarize_stats

TIMEOUT = "1s"
PROMPT_S = 3.0  # the 1 s deadline, with room for a loaded 2-core machine

TRITON_PAGE = (
    "# HELP nv_inference_count Number of inferences performed\n"
    "# TYPE nv_inference_count counter\n"
    'nv_inference_count{model="m",version="1"} 3\n'
    "# TYPE nv_gpu_utilization gauge\n"
    'nv_gpu_utilization{gpu_uuid="GPU-1"} 0.5\n'
)


def dcgm_page(throttle: tuple[str, str] = ("0", "4"), xid: tuple[str, str] = ("0", "79"),
              free: tuple[str, str] = ("100", "300"), spaced: bool = False) -> str:
    """Two GPUs' worth of the decoded fields; each field's value per GPU as a text token."""
    sep = ", " if spaced else ","
    lines = ["# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).", "# TYPE DCGM_FI_DEV_GPU_UTIL gauge"]
    for gpu in ("0", "1"):
        lines.append(f'DCGM_FI_DEV_GPU_UTIL{{gpu="{gpu}"{sep}UUID="GPU-{gpu}"}} 5')
    for family, values in (("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", throttle), ("DCGM_FI_DEV_XID_ERRORS", xid),
                           ("DCGM_FI_DEV_FB_FREE", free), ("DCGM_FI_DEV_FB_USED", ("100", "100"))):
        lines.append(f"# TYPE {family} gauge")
        for gpu, token in zip(("0", "1"), values, strict=True):
            lines.append(f'{family}{{gpu="{gpu}"{sep}UUID="GPU-{gpu}"}} {token}')
    return "\n".join(lines) + "\n"


def healthy_answers() -> dict[str, tuple]:
    stats = {"model_stats": [{
        "name": "m", "version": "1", "last_inference": 1700000000000,
        "inference_stats": {"success": {"count": 3, "ns": 3000}, "fail": {"count": 0, "ns": 0}},
        "batch_stats": [{"batch_size": 1, "compute_infer": {"count": 3, "ns": 10}}],
    }]}
    config = {"platform": "", "backend": "python", "max_batch_size": 8, "dynamic_batching": {},
              "instance_group": [{"kind": "KIND_GPU", "count": 1, "gpus": [0]}]}
    return {
        "/v2/health/live": ("body", 200, b"", "text/plain"),
        "/v2/health/ready": ("body", 200, b"", "text/plain"),
        "/v2/repository/index": ("json", [{"name": "m", "version": "1", "state": "READY"}]),
        "/v2/models/stats": ("json", stats),
        "/v2/models/m/versions/1/config": ("json", config),
        "/v2/models/m/versions/1/ready": ("body", 200, b"", "text/plain"),
        "/metrics": ("body", 200, TRITON_PAGE.encode(), "text/plain; version=0.0.4"),
        "/dcgm": ("body", 200, dcgm_page().encode(), "text/plain; version=0.0.4"),
    }


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802
        self._answer()

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _write_slowly(self, data: bytes, every_s: float) -> None:
        owner: HostileUpstream = self.owner
        for byte in data:
            if owner.stop.wait(every_s):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def _answer(self) -> None:  # noqa: C901 - one branch per kind of answer
        owner: HostileUpstream = self.owner
        path = self.path.split("?", 1)[0]
        owner.requests[path] += 1
        answer = owner.answers.get(path)
        if answer is None:
            if path.endswith("/ready") and path.startswith("/v2/models/"):
                answer = ("body", 200, b"", "text/plain")
            else:
                answer = ("json", {"error": "not found"}, 404)
        kind = answer[0]
        self.close_connection = True
        try:
            if kind == "body":
                self.send_body(answer[1], answer[2], answer[3])
            elif kind == "json":
                status = answer[2] if len(answer) > 2 else 200
                self.send_body(status, json.dumps(answer[1]).encode(), "application/json")
            elif kind == "raw":  # bytes as they are, status line and headers included
                self.wfile.write(answer[1])
            elif kind == "trickle-status":  # the status line, a byte every 50 ms, for ever
                self._write_slowly(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 100_000, 0.05)
            elif kind == "trickle-headers":  # status line at once, then a header a byte at a time
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                self.wfile.flush()
                self._write_slowly(b"Content-Type: text/plain\r\nX-Pad: " + b"a" * 100_000, 0.05)
            elif kind == "hang":
                owner.stop.wait(60)
            elif kind in ("stream", "stream-announced"):  # `size` bytes of `block`, counted as sent
                block, size = answer[1], answer[2]
                self.send_response(200)
                if kind == "stream-announced":
                    self.send_header("Content-Length", str(size))
                self.send_header("Connection", "close")
                self.end_headers()
                sent = 0
                while sent < size and not owner.stop.is_set():
                    self.wfile.write(block)
                    sent += len(block)
                    owner.sent[path] = sent
            elif kind == "gzip":
                body = answer[1]
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        except OSError:
            pass  # the exporter gave up on us: what a hostile upstream should expect


class HostileUpstream(BackgroundHTTPServer):
    """Triton (/metrics and the HTTP API) and dcgm-exporter (/dcgm) in one loopback server."""

    def __init__(self) -> None:
        super().__init__(_Handler, "hostile-upstream")
        self.answers = healthy_answers()
        self.requests: Counter[str] = Counter()
        self.sent: dict[str, int] = {}
        self.stop = threading.Event()

    def __enter__(self) -> HostileUpstream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        super().stop()

    def heal(self) -> None:
        self.answers = healthy_answers()


@pytest.fixture
def upstream():
    with HostileUpstream() as server:
        yield server


def make_exporter(server: HostileUpstream, timeout: str = TIMEOUT, **config: object) -> Exporter:
    built = build(exporter_args(triton=server.base_url, triton_metrics=server.base_url + "/metrics",
                                dcgm=server.base_url + "/dcgm", timeout=timeout))
    if config:
        built = dataclasses.replace(built, **config)
    return Exporter(built)


def scrape(exporter: Exporter, openmetrics: bool = False, prompt_s: float = PROMPT_S) -> str:
    body, took = timed(exporter.scrape, openmetrics)
    assert took < prompt_s, f"scrape took {took:.2f}s"
    text = body.decode()
    if openmetrics:
        list(parse_openmetrics(text))  # valid OpenMetrics, or this raises
    else:
        list(text_string_to_metric_families(text))
    return text


def ups(body: str) -> dict[str, float]:
    return {dict(labels)["upstream"]: v for (name, labels), v in samples(body).items() if name == "triton_slo_up"}


def errors(body: str, upstream: str, reason: str) -> float:
    return value(body, "triton_slo_scrape_errors_total", upstream=upstream, reason=reason) or 0.0


def parse_errors(body: str, upstream: str) -> float:
    return value(body, "triton_slo_parse_errors_total", upstream=upstream) or 0.0


# --- 1. a bad value costs its own derived series, never the page ------------------------------------
def test_non_finite_dcgm_values_cost_only_their_own_series(upstream: HostileUpstream) -> None:
    upstream.answers["/dcgm"] = ("body", 200, dcgm_page(throttle=("+Inf", "4"), xid=("NaN", "79"),
                                                        free=("-Inf", "300")).encode(), "text/plain")
    exporter = make_exporter(upstream)
    try:
        plain = scrape(exporter)
        om = scrape(exporter, openmetrics=True)
    finally:
        exporter.close()
    assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1}
    assert parse_errors(plain, "dcgm") == 3  # the throttle mask, the XID code, the headroom ratio
    throttle = {dict(k[1])["gpu"] for k in samples(plain) if k[0] == "triton_slo_gpu_throttle_active"}
    assert throttle == {"1"}  # GPU 1's reasons decoded, GPU 0's left out
    assert value(plain, "triton_slo_gpu_throttle_active", gpu="1", UUID="GPU-1", reason="sw_power_cap") == 1
    assert value(plain, "triton_slo_gpu_xid_errors_total", gpu="1", UUID="GPU-1", xid="79") == 1
    assert value(plain, "triton_slo_gpu_memory_headroom_ratio", gpu="1", UUID="GPU-1") == 0.75
    assert 'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{gpu="0",UUID="GPU-0"} +Inf\n' in plain  # passed on as it came
    assert value(plain, "nv_inference_count_total", model="m", version="1") == 3
    assert "triton_slo_model_info{" in om


@pytest.mark.parametrize("token", ["+Inf", "-Inf", "NaN", "1e999", "-1", "0.5", "18446744073709551616", "1e300"])
def test_every_impossible_mask_or_xid_is_skipped_and_counted(token: str) -> None:
    families = textparse.scan(dcgm_page(throttle=(token, "4"), xid=(token, "48"), free=(token, "300"))).families
    decoded = dcgm.decode(families)
    assert {dict(s.labels)["gpu"] for s in decoded.throttle} == {"1"}
    assert [dict(s.labels)["gpu"] for s in decoded.xid_last] == ["1"]
    assert decoded.bad_values >= 2
    counter = dcgm.XidCounter()
    counter.observe([dcgm.Series((("gpu", "0"),), float(token))])  # the counter guards itself too
    assert counter.counts() == []


_BAD_SHAPES: dict[str, tuple[str, object]] = {
    "index is a mapping": ("/v2/repository/index", {"name": "m", "version": "1"}),
    "index of strings": ("/v2/repository/index", ["m", 1, None]),
    "index entry with a list for a name": ("/v2/repository/index", [{"name": ["m"], "state": "READY"}]),
    "index entry with numbers for text": ("/v2/repository/index", [{"name": "m", "version": 1, "state": 7}]),
    "statistics is a list": ("/v2/models/stats", [{"name": "m"}]),
    "model_stats is a string": ("/v2/models/stats", {"model_stats": "m"}),
    "stats with strings for numbers": ("/v2/models/stats", {"model_stats": [
        {"name": "m", "version": "1", "last_inference": "yesterday",
         "inference_stats": {"success": {"count": "three", "ns": None}},
         "batch_stats": [{"batch_size": "one", "compute_infer": {"count": 1}}, {"batch_size": 2}]}]}),
    "stats with nested wrong types": ("/v2/models/stats", {"model_stats": [
        {"name": "m", "version": "1", "inference_stats": [1, 2], "batch_stats": {"batch_size": 1}}]}),
    "stats with NaN and huge numbers": ("/v2/models/stats", {"model_stats": [
        {"name": "m", "version": "1", "last_inference": float("nan"),
         "batch_stats": [{"batch_size": 1e300, "compute_infer": {"count": float("inf")}}]}]}),
    "stats entry null": ("/v2/models/stats", {"model_stats": [None, {"name": None}]}),
    "config is a list": ("/v2/models/m/versions/1/config", [{"backend": "python"}]),
    "config with a string count": ("/v2/models/m/versions/1/config",
                                   {"backend": "python", "instance_group": [{"kind": "KIND_GPU", "count": "two"}]}),
    "config with null gpus": ("/v2/models/m/versions/1/config",
                              {"instance_group": [{"kind": "KIND_GPU", "gpus": [None, "x"]}]}),
    "config with a mapping for a group": ("/v2/models/m/versions/1/config", {"instance_group": {"kind": "KIND_GPU"}}),
    "config is null": ("/v2/models/m/versions/1/config", None),
    "config with a lone surrogate": ("/v2/models/m/versions/1/config", {"backend": "\ud800"}),
}


@pytest.mark.parametrize("case", sorted(_BAD_SHAPES))
def test_triton_api_answers_of_the_wrong_shape_cost_only_their_series(upstream: HostileUpstream, case: str) -> None:
    path, payload = _BAD_SHAPES[case]
    upstream.answers[path] = ("json", payload)
    exporter = make_exporter(upstream)
    try:
        plain = scrape(exporter)
        scrape(exporter, openmetrics=True)
    finally:
        exporter.close()
    assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1}
    assert parse_errors(plain, "triton_api") + errors(plain, "triton_api", "unparseable") >= 1
    assert value(plain, "triton_slo_server_live") == 1
    assert value(plain, "nv_inference_count_total", model="m", version="1") == 3  # Triton's series kept
    assert value(plain, "triton_slo_gpu_throttle_active", gpu="1", UUID="GPU-1", reason="sw_power_cap") == 1


@pytest.mark.parametrize("body", [b"not json\n", b"[" * 200_000, b"\xff\xfe{", b""])
def test_triton_api_answers_that_are_not_json(upstream: HostileUpstream, body: bytes) -> None:
    for path in ("/v2/repository/index", "/v2/models/stats"):
        upstream.answers[path] = ("body", 200, body, "application/json")
    exporter = make_exporter(upstream)
    try:
        plain = scrape(exporter)
    finally:
        exporter.close()
    assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1}
    assert errors(plain, "triton_api", "unparseable") == 2


# property-style: any JSON anywhere in the API's answers, any value token in the text pages
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
_tokens = st.sampled_from(["+Inf", "-Inf", "NaN", "nan", "Inf", "infinity", "-0", "0", "1", "4", "79", "1e308",
                           "1e999", "-1", "0.5", "18446744073709551615", "18446744073709551616", "2147483649",
                           "0x10", "", "1_0", "--1", "1e", "\u0661"]) | st.floats().map(repr)


def _leaf_or(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(_json, strategy)


@st.composite
def api_answers(draw: st.DrawFn) -> dict[str, object]:
    """Answers shaped like Triton's with random values, or random JSON at any level."""
    entry = st.fixed_dictionaries({"name": _leaf_or(st.just("m")), "version": _leaf_or(st.just("1")),
                                   "state": _leaf_or(st.sampled_from(["READY", "UNAVAILABLE"])),
                                   "reason": _json})
    phase = _leaf_or(st.fixed_dictionaries({"count": _json, "ns": _json}))
    stat = st.fixed_dictionaries({
        "name": _leaf_or(st.sampled_from(["m", "other"])), "version": _leaf_or(st.just("1")),
        "last_inference": _json,
        "inference_stats": _leaf_or(st.fixed_dictionaries({"success": phase, "fail": phase, "queue": phase})),
        "batch_stats": _leaf_or(st.lists(_leaf_or(st.fixed_dictionaries(
            {"batch_size": _json, "compute_infer": _leaf_or(st.fixed_dictionaries({"count": _json}))})),
            max_size=2)),
    })
    group = _leaf_or(st.fixed_dictionaries({"kind": _leaf_or(st.sampled_from(["KIND_GPU", "KIND_CPU"])),
                                            "count": _json, "gpus": _leaf_or(st.lists(_json, max_size=2))}))
    config = st.fixed_dictionaries({"platform": _json, "backend": _json, "max_batch_size": _json,
                                    "instance_group": _leaf_or(st.lists(group, max_size=2))})
    return {
        "/v2/repository/index": draw(_leaf_or(st.lists(_leaf_or(entry), max_size=3))),
        "/v2/models/stats": draw(_leaf_or(st.fixed_dictionaries({"model_stats": _leaf_or(
            st.lists(_leaf_or(stat), max_size=3))}))),
        "/v2/models/m/versions/1/config": draw(_leaf_or(config)),
        "/v2/models/other/versions/1/config": draw(_leaf_or(config)),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(api_answers())
def test_api_decoders_raise_nothing_but_bad_value(answers: dict[str, object]) -> None:
    for entry in answers["/v2/repository/index"] if isinstance(answers["/v2/repository/index"], list) else []:
        try:
            index_entry(entry)
        except BadValue:
            pass
    stats = answers["/v2/models/stats"]
    for entry in stats.get("model_stats") or [] if isinstance(stats, dict) and isinstance(
            stats.get("model_stats"), list) else []:
        try:
            stats_key(entry)
            summarize_stats(entry)
        except BadValue:
            pass
    for path in ("/v2/models/m/versions/1/config", "/v2/models/other/versions/1/config"):
        try:
            summarize_config(answers[path])
        except BadValue:
            pass


@settings(max_examples=300, deadline=None)
@given(st.lists(_tokens, min_size=8, max_size=8))
def test_dcgm_decoding_raises_nothing_whatever_the_values(tokens: list[str]) -> None:
    page = dcgm_page(tuple(tokens[0:2]), tuple(tokens[2:4]), tuple(tokens[4:6]))
    page += f'DCGM_FI_DEV_FB_RESERVED{{gpu="0",UUID="GPU-0"}} {tokens[6]}\n'
    decoded = dcgm.decode(textparse.scan(page).families)
    dcgm.XidCounter().observe(decoded.xid_last)
    for series in decoded.headroom:
        assert 0 <= series.value <= 1


@pytest.fixture(scope="module")
def shared_upstream():
    with HostileUpstream() as server:
        yield server


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(answers=api_answers(), dcgm_tokens=st.lists(_tokens, min_size=6, max_size=6), triton_token=_tokens)
def test_the_page_is_always_served_whatever_the_upstreams_send(shared_upstream: HostileUpstream,
                                                               answers: dict[str, object], dcgm_tokens: list[str],
                                                               triton_token: str) -> None:
    server = shared_upstream
    server.heal()
    for path, payload in answers.items():
        server.answers[path] = ("json", payload)
    page = dcgm_page(tuple(dcgm_tokens[0:2]), tuple(dcgm_tokens[2:4]), tuple(dcgm_tokens[4:6]))
    server.answers["/dcgm"] = ("body", 200, page.encode(), "text/plain")
    server.answers["/metrics"] = ("body", 200, (TRITON_PAGE + f'nv_inference_exec_count{{model="m",version="1"}} '
                                                f"{triton_token}\n").encode(), "text/plain")
    exporter = make_exporter(server)
    try:
        plain = scrape(exporter)
        scrape(exporter, openmetrics=True)
    finally:
        exporter.close()
    # every upstream answered: whatever was in the answers, none of them is down for it
    assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1}
    assert value(plain, "DCGM_FI_DEV_GPU_UTIL", gpu="1", UUID="GPU-1") == 5
    assert value(plain, "nv_inference_count_total", model="m", version="1") == 3


# --- 2. adversarial lines: linear time, and the deadline covers parsing and decoding ----------------
_ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "name, blanks, garbage": lambda n: "a" + " " * n + "x",
    "name, tabs, garbage": lambda n: "a" + "\t" * n + "x",
    "name, blanks": lambda n: "a" + " " * n,
    "value, blanks, garbage": lambda n: "a 1" + " " * n + "x",
    "timestamp, blanks, garbage": lambda n: "a 1 2" + " \t" * (n // 2) + "x",
    "brace, blanks": lambda n: "a{" + " " * n,
    "label name, blanks": lambda n: "a{b" + " " * n + "x",
    "braces": lambda n: "{" * n,
    "name, braces": lambda n: "a" + "{" * n,
    "quotes": lambda n: '"' * n,
    "open value, quotes": lambda n: 'a{b="' + '"' * n,
    "equals": lambda n: "a{" + "=" * n,
    "backslashes": lambda n: 'a{b="' + "\\" * n,
    "escaped quotes, unterminated": lambda n: 'a{b="' + '\\"' * (n // 2),
    "commas": lambda n: "a{" + "," * n,
    "label, commas": lambda n: 'a{b="1"' + "," * n,
    "label, blank commas": lambda n: 'a{b="1"' + " ," * (n // 2),
    "labels, unclosed": lambda n: "a{" + 'b="x",' * (n // 6),
    "spaced labels, unclosed": lambda n: "a{" + ' b = "1" ,' * (n // 10),
    "spaced labels, valid": lambda n: "a{" + ' b = "1" ,' * (n // 10) + "} 1",
    "labels, no value": lambda n: "a{" + ",".join(f'l{i}="v"' for i in range(n // 8)) + "}",
    "labels, valid": lambda n: "a{" + ",".join(f'l{i}="v"' for i in range(n // 8)) + "} 1",
    "long value": lambda n: "a " + "1" * n,
    "long value, garbage": lambda n: "a " + "1" * n + "e",
    "long fraction, blanks, garbage": lambda n: "a 1." + "0" * (n // 2) + " " * (n // 2) + "x",
    "long name, valid": lambda n: "a" * n + " 1",
    "long name, garbage": lambda n: "a" * n + "!",
    "blanks only": lambda n: " " * n,
    "blank tabs only": lambda n: " \t" * (n // 2),
    "HELP, blanks, text": lambda n: "# HELP a x" + " " * n + "y",
    "HELP, blanks": lambda n: "# HELP a" + " " * n,
    "TYPE, blanks, garbage": lambda n: "# TYPE a" + " " * n + "gauge" + " " * n + "x",
    "comment, blanks": lambda n: "#" + " " * n + "HELP",
    "HELP, backslashes": lambda n: "# HELP a " + "\\" * n,
}


def _scan_time(line: str, repeat: int = 3) -> float:
    # after a TYPE line: the run pattern of the open family meets the line first
    text = "# TYPE a gauge\na 1\n" + line + "\nb 2\n"
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        scanned = textparse.scan(text)
        for family in scanned.families:
            family.samples()
            textparse.Family(family.name, family.type, None, family.chunks, family.count, spaced=True)
        best = min(best, time.perf_counter() - started)
    assert scanned.families[-1].lines == ["b 2"]  # the lines after it are read as usual
    return best


@pytest.mark.parametrize("shape", sorted(_ADVERSARIAL))
def test_adversarial_lines_are_read_in_linear_time(shape: str) -> None:
    make = _ADVERSARIAL[shape]
    small, double = _scan_time(make(30_000)), _scan_time(make(60_000))
    assert _scan_time(make(100_000), repeat=1) < 1.0
    # twice the length, at most three times the time (and 20 ms of slack for a busy machine's noise)
    assert double < 3 * small + 0.02, f"{shape}: {small * 1000:.1f} ms at 30 kB, {double * 1000:.1f} ms at 60 kB"


def test_openmetrics_rendering_of_adversarial_valid_lines_is_linear() -> None:
    from triton_slo.exporters.render import render_passthrough

    def took(n: int) -> float:
        family = textparse.scan('a{ b = "1" ,' + ' c = "x\\\\y" ,' * (n // 14) + "} 1\n").families[0]
        started = time.perf_counter()
        text = render_passthrough(family, openmetrics=True)
        assert ", " not in text and " = " not in text
        return time.perf_counter() - started

    assert took(60_000) < 3 * took(30_000) + 0.02


def test_a_30kb_blank_line_in_an_upstream_page_costs_one_line(upstream: HostileUpstream) -> None:
    bad = "nv_inference_count" + " " * 30_000 + "x\n"
    upstream.answers["/metrics"] = ("body", 200, (TRITON_PAGE + bad + 'nv_after{model="m"} 1\n').encode(),
                                    "text/plain")
    upstream.answers["/dcgm"] = ("body", 200, (dcgm_page() + "DCGM_FI_DEV_X{" + " \t" * 15_000 + "\n").encode(),
                                 "text/plain")
    exporter = make_exporter(upstream)
    try:
        for _ in range(2):
            plain = scrape(exporter, prompt_s=1.5)
    finally:
        exporter.close()
    assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1}
    assert parse_errors(plain, "triton") == 2 and parse_errors(plain, "dcgm") == 2  # one a scrape
    assert value(plain, "nv_after", model="m") == 1


def _big_dcgm_page(series: int) -> bytes:
    line = ('DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{{gpu="{i}",UUID="GPU-{i:08d}-aaaa-bbbb-cccc",'
            'pci_bus_id="00000000:37:00.0",device="nvidia{i}",modelName="NVIDIA H200",Hostname="node-1"}} 68\n')
    return ("# TYPE DCGM_FI_DEV_CLOCK_THROTTLE_REASONS gauge\n"
            + "".join(line.format(i=i) for i in range(series))).encode()


def test_decoding_stops_at_the_deadline() -> None:
    families = textparse.scan(_big_dcgm_page(100_000).decode()).families
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        dcgm.decode(families, deadline=started + 0.05)
    assert time.monotonic() - started < 1.0
    text = "".join(f"x{i} 1 1\n" for i in range(300_000))  # a family a line: the slow path
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        textparse.scan(text, deadline=started + 0.02)
    assert time.monotonic() - started < 1.0


def test_an_upstream_that_takes_too_long_to_decode_is_down_for_timeout(upstream: HostileUpstream) -> None:
    """300k throttle series (2.7M decoded): past the 1 s deadline in the scan or the decoding, dcgm is
    `up 0` with `timeout`, the page comes in time with the others, and a small page reads up 1 again."""
    upstream.answers["/dcgm"] = ("body", 200, _big_dcgm_page(300_000), "text/plain")
    exporter = make_exporter(upstream, max_body_bytes=128 * 1024 * 1024)
    try:
        plain = scrape(exporter)
        assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 0}
        assert errors(plain, "dcgm", "timeout") == 1
        upstream.heal()
        time.sleep(0.5)  # what the worker still had to do ends at its deadline
        plain = scrape(exporter)
    finally:
        exporter.close()
    assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1}


def test_an_api_answer_that_takes_too_long_to_use_is_down_for_timeout(upstream: HostileUpstream) -> None:
    """Statistics naming 100k models the index does not: each would be asked for readiness; the
    deadline stops that, `triton_api` is `up 0` with `timeout`, the rest of the page is in time."""
    upstream.answers["/v2/models/stats"] = ("json", {"model_stats": [{"name": f"m{i}", "version": "1"}
                                                                     for i in range(100_000)]})
    exporter = make_exporter(upstream)
    try:
        plain = scrape(exporter)
        assert ups(plain) == {"triton": 1, "triton_api": 0, "dcgm": 1}
        assert errors(plain, "triton_api", "timeout") == 1
        upstream.heal()
        time.sleep(0.3)
        plain = scrape(exporter)
    finally:
        exporter.close()
    assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1}


# --- 3. the deadline covers the status line and the headers; sizes are capped while read ----------
_TRICKLED = {"triton": "/metrics", "dcgm": "/dcgm", "triton_api": "/v2/health/live"}


@pytest.mark.parametrize("kind", ["trickle-status", "trickle-headers", "hang"])
@pytest.mark.parametrize("name", sorted(_TRICKLED))
def test_a_trickled_head_times_out_and_the_upstream_recovers_at_once(upstream: HostileUpstream, name: str,
                                                                     kind: str) -> None:
    before = set(threading.enumerate())
    upstream.answers[_TRICKLED[name]] = (kind,)
    exporter = make_exporter(upstream)
    try:
        plain = scrape(exporter)
        assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1} | {name: 0}
        assert errors(plain, name, "timeout") == 1
        upstream.heal()  # the old connection still trickles: the next fetch must not wait on it
        time.sleep(0.3)
        plain = scrape(exporter)
        assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1}
    finally:
        exporter.close()
    assert errors(plain, name, "timeout") == 1
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        left = [t for t in set(threading.enumerate()) - before if t.name.startswith("upstream-") and t.is_alive()]
        if not left:
            break
        time.sleep(0.05)
    assert not left, f"upstream workers still running after close: {left}"


def test_close_stops_a_read_under_way(upstream: HostileUpstream) -> None:
    """With a 30 s deadline and an upstream that never answers, close() (what SIGTERM ends in)
    returns at once and the worker thread ends: no shutdown waits on an upstream."""
    upstream.answers["/metrics"] = ("trickle-headers",)
    exporter = make_exporter(upstream, timeout="30s")
    before = set(threading.enumerate())
    scraper = threading.Thread(target=exporter.scrape, daemon=True)
    scraper.start()
    time.sleep(0.5)
    _, took = timed(exporter.close)
    assert took < 2.0
    workers = [t for t in set(threading.enumerate()) - before if t.name.startswith("upstream-triton_")]
    for worker in workers:
        worker.join(timeout=2)
    assert not [t for t in workers if t.is_alive()]
    scraper.join(timeout=5)
    assert not scraper.is_alive()


@pytest.mark.parametrize("kind", ["stream", "stream-announced"])
def test_a_200mb_api_answer_is_capped_while_read(upstream: HostileUpstream, kind: str) -> None:
    block = b'{"name":"m","version":"1","last_inference":0,"inference_stats":{}},' * 1000
    upstream.answers["/v2/models/stats"] = (kind, block, 200 * 1024 * 1024)
    exporter = make_exporter(upstream)
    try:
        plain = scrape(exporter)
    finally:
        exporter.close()
    assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1}
    assert errors(plain, "triton_api", "too_large") == 1
    time.sleep(0.2)
    # the exporter stopped reading at the 16 MB cap (what the kernel buffers comes on top)
    assert upstream.sent.get("/v2/models/stats", 0) < 64 * 1024 * 1024


@pytest.mark.parametrize("path", ["/metrics", "/dcgm"])
def test_a_gzip_bomb_is_capped_at_its_decoded_size(upstream: HostileUpstream, path: str) -> None:
    bomb = gzip.compress(b"x 1\n" * (50 * 1024 * 1024 // 4), compresslevel=9)
    assert len(bomb) < 1024 * 1024
    upstream.answers[path] = ("gzip", bomb)
    exporter = make_exporter(upstream)
    try:
        plain = scrape(exporter)
        name = "triton" if path == "/metrics" else "dcgm"
        assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1} | {name: 0}
        assert errors(plain, name, "too_large") == 1
        upstream.answers[path] = ("gzip", gzip.compress(healthy_answers()[path][2]))
        plain = scrape(exporter)  # a gzip answer of a sane size is read
    finally:
        exporter.close()
    assert ups(plain) == {"triton": 1, "triton_api": 1, "dcgm": 1}


@pytest.mark.parametrize(("raw", "reason"), [
    (b"SSH-2.0-OpenSSH_9.6\r\n", "protocol"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 100_000 + b"\r\n\r\n", "protocol"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "protocol"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nx 1\n", "truncated"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nx 1\n", "truncated"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 4\r\n\r\nx 1\n", "encoding"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\x00\x01\x02\n", "encoding"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n", "truncated"),
    (b"", "connect"),
])
def test_malformed_answers_are_a_reason_not_an_exception(upstream: HostileUpstream, raw: bytes, reason: str) -> None:
    upstream.answers["/raw"] = ("raw", raw)
    with pytest.raises(FetchError) as failed:
        fetch_text(upstream.base_url + "/raw", 2.0, 16 * 1024 * 1024)
    assert failed.value.reason == reason


def test_chunked_and_close_delimited_answers_are_read(upstream: HostileUpstream) -> None:
    upstream.answers["/chunked"] = ("raw", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                           b"4\r\nx 1\n\r\n4;ext=1\r\ny 2\n\r\n0\r\nTrailer: 1\r\n\r\n")
    upstream.answers["/close"] = ("raw", b"HTTP/1.0 200 OK\r\n\r\nx 1\ny 2\n")
    for path in ("/chunked", "/close"):
        assert fetch_text(upstream.base_url + path, 2.0, 1024) == "x 1\ny 2\n"
    with pytest.raises(FetchError) as failed:
        fetch_text(upstream.base_url + "/chunked", 2.0, 6)
    assert failed.value.reason == "too_large"
    response = fetch(upstream.base_url + "/v2/repository/index", time.monotonic() + 2, method="POST")
    assert response.status == 200 and json.loads(response.body)[0]["name"] == "m"


# --- 4. OpenMetrics: blanks after commas (dcgm-exporter 2.0) are not passed on --------------------
def test_openmetrics_label_sets_have_no_blank_after_the_comma(upstream: HostileUpstream) -> None:
    page = dcgm_page(spaced=True) + 'DCGM_FI_DEV_SM_CLOCK{gpu = "0" ,\tUUID="GPU-0",} 1395 1700000000000\n'
    upstream.answers["/dcgm"] = ("body", 200, page.encode(), "text/plain")
    outputs = {}
    for drop in (frozenset(), frozenset({"nothing"})):
        exporter = make_exporter(upstream, dcgm_drop_labels=drop)
        try:
            outputs[drop] = scrape(exporter, openmetrics=True), scrape(exporter)
        finally:
            exporter.close()
    for om, plain in outputs.values():
        sample_lines = [line for line in om.splitlines() if line and not line.startswith("#")]
        assert not [line for line in sample_lines if re.search(r'",[ \t]|[ \t]=|=[ \t]|[ \t],|\{[ \t]', line)]
        assert 'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-0"} 5\n' in om
        assert 'DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-0"} 1395 1700000000.000\n' in om
        assert value(plain, "triton_slo_gpu_throttle_active", gpu="1", UUID="GPU-1", reason="sw_power_cap") == 1
    # the text format passes the lines on as they came (without a label dropped)
    assert 'DCGM_FI_DEV_GPU_UTIL{gpu="0", UUID="GPU-0"} 5\n' in outputs[frozenset()][1]
