"""Hostile Prometheus servers, bad flags and bad files: every one ends in one line and exit 2.

A loopback stub plays the Prometheus API badly: it trickles its answer a byte at a time, resets
the connection, answers 502/503/504 or sends answers of the wrong shape. `status`, `canary` and
`snapshot` must end within ``--query-timeout`` (the whole request, not each socket read), try
transient failures again a bounded number of times, and report a malformed answer as bad input
naming the query, never as an internal error (exit 70) or a traceback.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harness.stack.httpserver import BackgroundHTTPServer, QuietHandler
from harness.stack.ports import free_port
from triton_slo import promapi
from triton_slo.cli import main
from triton_slo.errors import UserError
from triton_slo.promapi import PromAPI

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "resnet-classifier.yaml"
EMPTY = {"/api/v1/query": {"status": "success", "data": {"resultType": "vector", "result": []}},
         "/api/v1/query_range": {"status": "success", "data": {"resultType": "matrix", "result": []}}}


# --- the stub -------------------------------------------------------------------------------------


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        stub: Stub = self.owner
        with stub.lock:
            stub.requests += 1
            number = stub.requests
        try:
            stub.answer(self, number)
        except OSError:  # the client gave up (the point of several tests): nothing to report
            self.close_connection = True


class Stub(BackgroundHTTPServer):
    """A Prometheus API on loopback whose every answer ``answer(handler, n)`` makes (n counts from 1)."""

    def __init__(self, answer: Callable[[QuietHandler, int], None]) -> None:
        super().__init__(_Handler, "hostile-prometheus")
        self.answer = answer
        self.requests = 0
        self.lock = threading.Lock()

    def __enter__(self) -> Stub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def path_of(handler: QuietHandler) -> str:
    return handler.path.split("?", 1)[0]


def send(handler: QuietHandler, payload: object, status: int = 200) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    handler.send_body(status, body, "application/json")


def empty(handler: QuietHandler, _n: int = 0) -> None:
    send(handler, EMPTY.get(path_of(handler), EMPTY["/api/v1/query"]))


def reset(handler: QuietHandler, _n: int = 0) -> None:
    """Close the connection with a TCP RST, before any answer."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    handler.close_connection = True


def status(code: int) -> Callable[[QuietHandler, int], None]:
    def answer(handler: QuietHandler, _n: int = 0) -> None:
        handler.send_body(code, b"<html>upstream unavailable</html>", "text/html")
    return answer


def trickle(phase: str) -> Callable[[QuietHandler, int], None]:
    """A byte every 0.5 s: of the status line and headers (``phase="headers"``) or of the body."""
    def answer(handler: QuietHandler, _n: int = 0) -> None:
        handler.close_connection = True
        slow = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: x\r\n" * 200
        if phase == "body":
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n")
            slow = b" " * 4000
        for i in range(len(slow)):
            handler.wfile.write(slow[i:i + 1])
            handler.wfile.flush()
            time.sleep(0.5)
    return answer


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of ``triton-slo ARGV`` (argparse's exits included)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line(code: int, err: str, fragment: str = "") -> None:
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert fragment in err, err


def command(name: str, url: str, tmp_path: Path) -> list[str]:
    """A run of ``name`` against ``url`` that queries it at once."""
    if name == "status":
        return ["status", str(EXAMPLE), "--prometheus", url]
    if name == "canary":
        return ["canary", "--prometheus", url, "--spec", str(EXAMPLE), "--baseline", 'model="a"', "--canary",
                'model="b"']
    return ["snapshot", "--prometheus", url, "--spec", str(EXAMPLE), "-o", str(tmp_path / "board.png")]


# --- 1. the timeout covers the whole request -------------------------------------------------------


@pytest.mark.parametrize("name", ["status", "canary", "snapshot"])
def test_a_server_trickling_its_headers_is_cut_off_at_the_query_timeout(name, tmp_path, capsys):
    with Stub(trickle("headers")) as stub:
        began = time.monotonic()
        code, _, err = run_cli([*command(name, stub.base_url, tmp_path), "--query-timeout", "2"], capsys)
        elapsed = time.monotonic() - began
    assert_one_line(code, err, "no answer within 2 s")
    assert elapsed < 2 + 2, f"{name} took {elapsed:.1f} s against --query-timeout 2"
    assert stub.requests == 1  # a timeout is not tried again: the time is spent


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_the_deadline_holds_in_every_phase_of_the_answer(phase):
    with Stub(trickle(phase)) as stub:
        api = PromAPI(stub.base_url, timeout=1.5)
        began = time.monotonic()
        with pytest.raises(UserError, match=r"query 'up': no answer within 1.5 s"):
            api.query("up")
        assert time.monotonic() - began < 1.5 + 1


# --- 2. answers of the wrong shape are bad input ------------------------------------------------


def _vector(result: object) -> dict:
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


BAD_ANSWERS = {
    "not JSON": (b"<html>this is Grafana</html>", 200, "not JSON"),
    "a JSON list": (b"[]", 200, "a list, expected an object"),
    "a JSON string": (b'"ok"', 200, "a string, expected an object"),
    "nested too deep": (b"[" * 100000, 200, "not JSON"),
    "status error with errorType": ({"status": "error", "errorType": "bad_data", "error": "parse error\nat 3"},
                                    400, "failed: bad_data: parse error at 3"),
    "no status": ({"data": {}}, 200, "not a Prometheus API answer"),
    "data null": ({"status": "success", "data": None}, 200, "'data' is null"),
    "result null": (_vector(None), 200, "'result' is null, expected a list"),
    "result an object": (_vector({"a": 1}), 200, "'result' is an object, expected a list"),
    "result type matrix": ({"status": "success", "data": {"resultType": "matrix", "result": []}}, 200,
                           "expected an instant vector, got matrix"),
    "result type missing": ({"status": "success", "data": {"result": []}}, 200, "expected an instant vector"),
    "scalar of one element": ({"status": "success", "data": {"resultType": "scalar", "result": [1]}}, 200,
                              "the scalar is a list"),
    "sample not an object": (_vector([1]), 200, "result[0] is a number, expected an object"),
    "value of one element": (_vector([{"metric": {}, "value": [1]}]), 200, "result[0].value is a list"),
    "value null": (_vector([{"metric": {}, "value": None}]), 200, "result[0].value is null"),
    "value a bare number": (_vector([{"metric": {}, "value": [1, 5]}]), 200, "expected a number as a string"),
    "value not a number": (_vector([{"metric": {}, "value": [1, "abc"]}]), 200, "which is not a number"),
    "timestamp a string": (_vector([{"metric": {}, "value": ["1", "1"]}]), 200, "expected Unix seconds"),
    "timestamp infinite": (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},'
                           b'"value":[1e999,"1"]}]}}', 200, "expected Unix seconds"),
    "metric a list": (_vector([{"metric": [1], "value": [1, "1"]}]), 200, "'metric' is a list"),
    "label not a string": (_vector([{"metric": {"a": 1}, "value": [1, "1"]}]), 200, "'metric' has the label 'a' = 1"),
    "HTTP 500 with HTML": (b"<html>oops</html>", 500, "HTTP 500, not a Prometheus API answer"),
}


def answering(payload: object, code: int) -> Callable[[QuietHandler, int], None]:
    def answer(handler: QuietHandler, _n: int = 0) -> None:
        send(handler, payload, code)
    return answer


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_an_instant_answer_of_the_wrong_shape_is_one_line_naming_the_query(case, capsys, tmp_path):
    payload, code, fragment = BAD_ANSWERS[case]
    with Stub(answering(payload, code)) as stub:
        with pytest.raises(UserError, match="query 'up'") as caught:
            PromAPI(stub.base_url, timeout=5).query("up")
        assert fragment in str(caught.value) and "\n" not in str(caught.value)
        for name in ("status", "snapshot"):
            exit_code, _, err = run_cli([*command(name, stub.base_url, tmp_path), "--query-timeout", "5"], capsys)
            assert_one_line(exit_code, err, fragment)
            assert "query '" in err


def _matrix(result: object) -> dict:
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


BAD_RANGES = {
    "result type vector": (_vector([]), "expected a range vector (matrix), got vector"),
    "result null": (_matrix(None), "'result' is null"),
    "values null": (_matrix([{"metric": {}, "values": None}]), "result[0].values is null"),
    "point of three": (_matrix([{"metric": {}, "values": [[1, "1", 2]]}]), "result[0].values[0] is a list"),
    "point value null": (_matrix([{"metric": {}, "values": [[1, None]]}]), "expected a number as a string"),
}


@pytest.mark.parametrize("case", sorted(BAD_RANGES))
def test_a_range_answer_of_the_wrong_shape_is_one_line_naming_the_query(case, capsys, tmp_path):
    payload, fragment = BAD_RANGES[case]
    with Stub(answering(payload, 200)) as stub:
        with pytest.raises(UserError, match="query 'up'") as caught:
            PromAPI(stub.base_url, timeout=5).query_range("up", 0, 60, 15)
        assert fragment in str(caught.value)
        exit_code, _, err = run_cli([*command("canary", stub.base_url, tmp_path), "--query-timeout", "5"], capsys)
        assert_one_line(exit_code, err, fragment)


# --- 3. transient failures are tried again, a bounded number of times -------------------------------


def failing(first: int, failure: Callable[[QuietHandler, int], None]) -> Callable[[QuietHandler, int], None]:
    def answer(handler: QuietHandler, n: int) -> None:
        (failure if n <= first else empty)(handler, n)
    return answer


TRANSIENT = {"reset": reset, "502": status(502), "503": status(503), "504": status(504)}


@pytest.mark.parametrize("kind", sorted(TRANSIENT))
def test_a_transient_failure_is_tried_again(kind):
    with Stub(failing(promapi.TRIES - 1, TRANSIENT[kind])) as stub:
        assert PromAPI(stub.base_url, timeout=10).query("up") == []
        assert stub.requests == promapi.TRIES


@pytest.mark.parametrize("kind", sorted(TRANSIENT))
def test_a_failure_that_lasts_ends_after_the_last_try(kind):
    with Stub(TRANSIENT[kind]) as stub:
        began = time.monotonic()
        with pytest.raises(UserError, match="query 'up'") as caught:
            PromAPI(stub.base_url, timeout=10).query("up")
        elapsed = time.monotonic() - began
        assert stub.requests == promapi.TRIES
    assert elapsed < sum(promapi.BACKOFF_S) + 2
    assert ("cannot connect" if kind == "reset" else f"HTTP {kind}") in str(caught.value)


def test_retries_stay_within_the_query_timeout():
    with Stub(reset) as stub:
        began = time.monotonic()
        with pytest.raises(UserError, match="cannot connect"):
            PromAPI(stub.base_url, timeout=0.3).query("up")
        assert time.monotonic() - began < 0.3 + 0.5
        assert stub.requests < promapi.TRIES  # no time left for the third try's pause


def test_a_refusal_of_the_query_is_not_tried_again():
    refusal = {"status": "error", "errorType": "bad_data", "error": "invalid parameter \"query\""}
    with Stub(answering(refusal, 400)) as stub:
        with pytest.raises(UserError, match="failed: bad_data"):
            PromAPI(stub.base_url, timeout=5).query("up")
        assert stub.requests == 1


def test_canary_watch_survives_a_failed_look(capsys):
    # request 1 finds the canary's start; the tries of the next query fail, so the first look fails
    def answer(handler: QuietHandler, n: int) -> None:
        (status(503) if 2 <= n <= 1 + promapi.TRIES else empty)(handler, n)

    with Stub(answer) as stub:
        code, out, err = run_cli(["canary", "--prometheus", stub.base_url, "--spec", str(EXAMPLE), "--watch",
                                  "--window", "5s", "--slices", "2", "--every", "1s", "--query-timeout", "5"], capsys)
    assert code == 4, err  # INCONCLUSIVE: no data, judged to the window's end
    assert "failed (1 in a row" in err and "HTTP 503" in err
    assert "internal error" not in err and "Traceback" not in err
    assert "INCONCLUSIVE" in out


def test_canary_watch_stops_after_failed_looks_in_a_row(capsys):
    with Stub(status(503)) as stub:
        began = time.monotonic()
        code, _, err = run_cli(["canary", "--prometheus", stub.base_url, "--spec", str(EXAMPLE), "--watch",
                                "--window", "1h", "--every", "1s", "--query-timeout", "5"], capsys)
        elapsed = time.monotonic() - began
    assert code == 2
    lines = err.strip().splitlines()
    assert "internal error" not in err and "Traceback" not in err
    assert len(lines) == 3, err  # two failed looks reported, then the end
    assert "3 looks in a row failed" in lines[-1] and "HTTP 503" in lines[-1]
    assert elapsed < 3 * (sum(promapi.BACKOFF_S) + 1) + 3


# --- bad flags and bad files: one line, exit 2 ---------------------------------------------------


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "folder"
    folder.mkdir()
    file = tmp_path / "file.txt"
    file.write_text("not a folder\n")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes(b"caf\xe9\n")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000)
    (tmp_path / "folder.png").mkdir()
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    return {"DIR": str(folder), "FILE": str(file), "LATIN1": str(latin), "DEEP": str(deep),
            "GARBAGE": str(garbage), "SPEC": str(EXAMPLE), "URL": f"http://127.0.0.1:{free_port()}",
            "TMP": str(tmp_path)}


STATUS = ["status", "{SPEC}", "--prometheus", "{URL}"]
CANARY = ["canary", "--prometheus", "{URL}", "--spec", "{SPEC}"]
SNAPSHOT = ["snapshot", "--prometheus", "{URL}", "--spec", "{SPEC}", "-o", "{TMP}/board.png"]
GENERATE = ["generate", "{SPEC}", "-o", "{TMP}/out"]

BAD_INPUT = {
    "status --query-timeout abc": ([*STATUS, "--query-timeout", "abc"], "--query-timeout"),
    "status --query-timeout 0": ([*STATUS, "--query-timeout", "0"], "--query-timeout"),
    "status --query-timeout nan": ([*STATUS, "--query-timeout", "nan"], "--query-timeout"),
    "status --query-timeout -1": ([*STATUS, "--query-timeout=-1"], "--query-timeout"),
    "status --query-timeout inf": ([*STATUS, "--query-timeout", "inf"], "--query-timeout"),
    "status spec is a folder": (["status", "{DIR}", "--prometheus", "{URL}"], "cannot read"),
    "status spec missing": (["status", "{TMP}/missing.yaml", "--prometheus", "{URL}"], "cannot read"),
    "status spec not UTF-8": (["status", "{LATIN1}", "--prometheus", "{URL}"], "not UTF-8"),
    "status --time nan": ([*STATUS, "--time", "nan"], "--time"),
    "status --time 1e300": ([*STATUS, "--time", "1e300"], "--time"),
    "status --time year 99999": ([*STATUS, "--time", "99999-01-01"], "--time"),
    "status --evaluation-interval 0s": ([*STATUS, "--evaluation-interval", "0s"], "--evaluation-interval"),
    "status --prometheus ftp": (["status", "{SPEC}", "--prometheus", "ftp://x"], "--prometheus"),
    "status --prometheus no host": (["status", "{SPEC}", "--prometheus", "http://"], "no host"),
    "status --prometheus bad port": (["status", "{SPEC}", "--prometheus", "http://127.0.0.1:99999"], "--prometheus"),
    "status --prometheus blank": (["status", "{SPEC}", "--prometheus", "http://a b"], "--prometheus"),
    "status --header bad name": ([*STATUS, "--header", "X Y=1"], "--header"),
    "status --header line break": ([*STATUS, "--header", "X=a\nb"], "--header"),
    "status --header not latin-1": ([*STATUS, "--header", "X=\u20ac"], "--header"),
    "status --bearer-token-file folder": ([*STATUS, "--bearer-token-file", "{DIR}"], "--bearer-token-file"),
    "status password file not UTF-8": ([*STATUS, "--basic-auth-user", "u", "--basic-auth-password-file",
                                        "{LATIN1}"], "not UTF-8"),
    "status user not latin-1": ([*STATUS, "--basic-auth-user", "\u20ac"], "--basic-auth-user"),
    "status --ca-file missing": ([*STATUS, "--ca-file", "{TMP}/missing.pem"], "--ca-file"),
    "status --ca-file not a CA": (["status", "{SPEC}", "--prometheus", "https://127.0.0.1:1", "--ca-file",
                                   "{FILE}", "--query-timeout", "2"], "query '"),
    "canary --every 0s": ([*CANARY, "--watch", "--every", "0s"], "--every"),
    "canary --every 500ms": ([*CANARY, "--watch", "--every", "500ms"], "--every"),
    "canary --every abc": ([*CANARY, "--watch", "--every", "abc"], "--every"),
    "canary --window 0s": ([*CANARY, "--window", "0s"], "--window"),
    "canary --slices 1": ([*CANARY, "--slices", "1"], "--slices"),
    "canary --slices huge": ([*CANARY, "--slices", "100000000"], "--slices"),
    "canary --weight 150": ([*CANARY, "--weight", "150"], "--weight"),
    "canary --weight nan": ([*CANARY, "--weight", "nan"], "--weight"),
    "canary --end nan": ([*CANARY, "--end", "nan"], "--end"),
    "canary --end inf": ([*CANARY, "--end", "inf"], "--end"),
    "canary --query-timeout abc": ([*CANARY, "--query-timeout", "abc"], "--query-timeout"),
    "canary spec is a folder": (["canary", "--prometheus", "{URL}", "--spec", "{DIR}"], "cannot read"),
    "canary spec missing": (["canary", "--prometheus", "{URL}", "--spec", "{TMP}/missing.yaml"], "cannot read"),
    "canary bad selector": ([*CANARY, "--baseline", "{"], "--baseline"),
    "canary judge --data folder": (["canary", "judge", "--data", "{DIR}"], "--data"),
    "canary judge --data not JSON": (["canary", "judge", "--data", "{GARBAGE}"], "garbage.json"),
    "canary judge --data nested too deep": (["canary", "judge", "--data", "{DEEP}"], "nested too deeply"),
    "canary judge --config folder": (["canary", "judge", "--data", "{GARBAGE}", "--config", "{DIR}"], "--config"),
    "canary judge --weight 150": (["canary", "judge", "--data", "{GARBAGE}", "--weight", "150"], "--weight"),
    "snapshot -o inside a file": ([*SNAPSHOT[:-1], "{FILE}/board.png"], "is not a folder"),
    "snapshot -o a folder": ([*SNAPSHOT[:-1], "{TMP}/folder.png"], "is a folder"),
    "snapshot --range 0s": ([*SNAPSHOT, "--range", "0s"], "--range"),
    "snapshot --range 100y": ([*SNAPSHOT, "--range", "100y"], "--range"),
    "snapshot --spec folder": (["snapshot", "--prometheus", "{URL}", "--spec", "{DIR}", "-o", "{TMP}/b.png"],
                               "cannot read"),
    "snapshot --query-timeout abc": ([*SNAPSHOT, "--query-timeout", "abc"], "--query-timeout"),
    "generate spec is a folder": (["generate", "{DIR}", "-o", "{TMP}/out"], "cannot read"),
    "generate spec not UTF-8": (["generate", "{LATIN1}", "-o", "{TMP}/out"], "not UTF-8"),
    "generate -o inside a file": (["generate", "{SPEC}", "-o", "{FILE}/out"], "is not a folder"),
    "generate -o a file": (["generate", "{SPEC}", "-o", "{FILE}"], "not a folder"),
    "generate --evaluation-interval abc": ([*GENERATE, "--evaluation-interval", "abc"], "--evaluation-interval"),
    "generate --evaluation-interval 0s": ([*GENERATE, "--evaluation-interval", "0s"], "--evaluation-interval"),
    "generate --label": ([*GENERATE, "--label", "nolabel"], "--label"),
    "validate a folder": (["validate", "{DIR}"], "cannot read"),
    "validate missing": (["validate", "{TMP}/missing.yaml"], "cannot read"),
    "validate not UTF-8": (["validate", "{LATIN1}"], "not UTF-8"),
    "runbook unknown": (["runbook", "NoSuchAlert"], "NoSuchAlert"),
    "runbook and --list": (["runbook", "TritonSloServerDown", "--list"], "--list"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_flags_and_files_are_one_line_exit_2(case, places, capsys):
    argv, fragment = BAD_INPUT[case]
    for name, value in places.items():
        argv = [a.replace("{" + name + "}", value) for a in argv]
    began = time.monotonic()
    code, _, err = run_cli(argv, capsys)
    assert_one_line(code, err, fragment)
    assert time.monotonic() - began < 10


@pytest.mark.parametrize("value", ["+Inf", "-Inf", "NaN", "1e308"])
@pytest.mark.parametrize("output", ["table", "json"])
def test_status_prints_values_out_of_any_range(value, output, tmp_path, capsys):
    sample = {"metric": {"model": "resnet_deep", "version": "1"}, "value": [1700000000, value]}
    with Stub(answering(_vector([sample]), 200)) as stub:
        code, out, err = run_cli([*command("status", stub.base_url, tmp_path), "--format", output], capsys)
    assert code in (0, 1), err  # 1: a budget is exhausted
    assert "internal error" not in err and "Traceback" not in err
    assert "resnet_deep" in out


@pytest.mark.parametrize("value", ["1e308", "+Inf", "NaN", "-5"])
def test_canary_takes_counts_out_of_any_range_as_bad_input_or_no_data(value, capsys):
    def answer(handler: QuietHandler, _n: int) -> None:
        if path_of(handler) == "/api/v1/query":
            send(handler, _vector([{"metric": {}, "value": [1, value]}]))
        else:
            now = time.time()
            send(handler, _matrix([{"metric": {}, "values": [[now - 1800 + 180 * i, value] for i in range(11)]}]))

    with Stub(answer) as stub:
        code, _, err = run_cli(["canary", "--prometheus", stub.base_url, "--spec", str(EXAMPLE)], capsys)
    if value == "1e308":  # 2e308 events: no count of events
        assert_one_line(code, err, "is not an event count")
    else:
        assert code == 4, err  # INCONCLUSIVE: nothing usable to judge
        assert "internal error" not in err and "Traceback" not in err


@pytest.mark.filterwarnings("ignore:No artists with labels:UserWarning")  # every value of a panel is a gap
def test_snapshot_draws_values_and_times_out_of_any_range(tmp_path, capsys):
    def answer(handler: QuietHandler, _n: int) -> None:
        now = time.time()
        if path_of(handler) == "/api/v1/query":
            send(handler, _vector([{"metric": {"model": "x"}, "value": [now, "1e308"]}]))
        else:
            points = [[now - 3000 + 300 * i, "-1e308" if i % 2 else "1e308"] for i in range(11)]
            send(handler, _matrix([{"metric": {"model": "x"}, "values": [*points, [1e11, "1"], [-1e12, "1"]]}]))

    with Stub(answer) as stub:
        code, out, err = run_cli(command("snapshot", stub.base_url, tmp_path), capsys)
    assert code == 0, err
    assert "internal error" not in err and "Traceback" not in err
    assert (tmp_path / "board.png").stat().st_size > 0 and "wrote" in out
