"""Pure parts of the exporter: DCGM decoding, config summaries, rendering, flags and config files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from triton_slo.cli import main
from triton_slo.exporters import dcgm, render, textparse
from triton_slo.exporters.probes import GoldenSet, load_golden, score
from triton_slo.exporters.triton_api import summarize_config, summarize_stats

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def recording(name: str) -> str:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"real recording not found: {path}")
    return path.read_text()


def all_recordings() -> list[Path]:
    if not FIXTURES.is_dir():
        pytest.skip(f"real recordings not found: {FIXTURES} is absent")
    return sorted(FIXTURES.glob("*.prom"))


# --- DCGM decoding ---------------------------------------------------------------------------------
def test_throttle_bitmask_gives_one_series_per_reason() -> None:
    reasons = dict(dcgm.throttle_reasons(0x4 | 0x40))
    assert reasons["sw_power_cap"] == 1 and reasons["hw_thermal_slowdown"] == 1
    assert sum(reasons.values()) == 2 and len(reasons) == 9
    assert dict(dcgm.throttle_reasons(0x200 | 0x1))["bit_9"] == 1  # a bit nobody named yet is not lost


def test_throttle_decoded_from_a_dcgm_line_keeps_mig_and_pod_labels() -> None:
    text = (
        'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS{gpu="0",UUID="GPU-x",GPU_I_ID="13",exported_pod="p-1",'
        'pod_uid="abc"} 136\n'
    )
    decoded = dcgm.decode(textparse.scan(text).families, drop=frozenset({"pod_uid"}))
    active = {dict(s.labels)["reason"] for s in decoded.throttle if s.value == 1}
    assert active == {"hw_slowdown", "hw_power_brake_slowdown"}
    labels = dict(decoded.throttle[0].labels)
    assert labels["GPU_I_ID"] == "13" and labels["exported_pod"] == "p-1" and "pod_uid" not in labels


@pytest.mark.parametrize(
    ("name", "free", "used", "reserved"),
    [
        ("dcgm_L4_kops_default-counters.prom", 22563, 0, 470),
        ("dcgm_T4_under-load_ericsson_no-help-type.prom", 9791, 5120, 447),
        ("dcgm_A100_MIG_nvidia-docs_excerpt.prom", 35690, 4845, 0),
    ],
)
def test_memory_headroom_on_real_recordings(name: str, free: int, used: int, reserved: int) -> None:
    decoded = dcgm.decode(textparse.scan(recording(name)).families)
    assert len(decoded.headroom) == 1
    assert decoded.headroom[0].value == pytest.approx(free / (free + used + reserved))
    assert decoded.gpu_uuid  # UUID -> gpu index found


def test_headroom_absent_when_a_field_is_absent() -> None:
    text = 'DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-x"} 100\n'  # no FB_USED: no ratio, not a made-up one
    assert dcgm.decode(textparse.scan(text).families).headroom == []
    assert dcgm.headroom_ratio(0, 0, 0) is None
    assert dcgm.headroom_ratio(float("nan"), 1) is None


def test_xid_last_code_becomes_a_counter_per_code() -> None:
    counter = dcgm.XidCounter()
    gpu = (("UUID", "GPU-x"), ("gpu", "0"))

    def seen(code: float) -> None:
        counter.observe([dcgm.Series(gpu, code)])

    for code in (0, 0, 79, 79, 48, 79, float("nan"), 0, 0):
        seen(code)
    counts = {dict(s.labels)["xid"]: s.value for s in counter.counts()}
    assert counts == {"79": 2, "48": 1}


def test_xid_on_the_mig_recording_is_zero_and_counts_nothing() -> None:
    decoded = dcgm.decode(textparse.scan(recording("dcgm_A100_MIG_nvidia-docs_excerpt.prom")).families)
    assert len(decoded.xid_last) == 2  # whole GPU and the MIG instance
    counter = dcgm.XidCounter()
    counter.observe(decoded.xid_last)
    assert counter.counts() == []


# --- Triton API summaries --------------------------------------------------------------------------
def test_config_summary_counts_instances_per_gpu() -> None:
    config = {
        "platform": "onnxruntime_onnx", "backend": "onnxruntime", "max_batch_size": 8,
        "dynamic_batching": {"max_queue_delay_microseconds": 100},
        "instance_group": [{"kind": "KIND_GPU", "count": 2, "gpus": [0, 1]}],
    }
    summary = summarize_config(config)
    assert summary.instance_count == 4 and summary.gpus == (0, 1) and summary.instance_kind == "gpu"
    assert summary.dynamic_batching and summary.max_batch_size == 8
    cpu = summarize_config({"backend": "python", "instance_group": [{"kind": "KIND_CPU", "count": 3, "gpus": []}]})
    assert cpu.instance_kind == "cpu" and cpu.instance_count == 3 and cpu.gpus == () and not cpu.dynamic_batching


def test_stats_summary_converts_ns_and_ms() -> None:
    entry = {
        "name": "m", "version": "2", "last_inference": 1700000000123,
        "inference_stats": {"success": {"count": 5, "ns": 2_500_000_000}, "fail": {"count": 1, "ns": 10}},
        "batch_stats": [{"batch_size": 4, "compute_infer": {"count": 7, "ns": 1}}],
    }
    stats = summarize_stats(entry)
    assert stats.last_inference_s == pytest.approx(1700000000.123)
    assert stats.durations_s["success"] == pytest.approx(2.5)
    assert (stats.success, stats.fail, stats.batch_executions) == (5, 1, {4: 7})


# --- golden set ------------------------------------------------------------------------------------
def test_score_counts_correct_and_nonfinite() -> None:
    logits = np.array([[0, 1, 0], [5, 0, 0], [np.nan, 9, 0], [0, 0, np.inf]], dtype=np.float32)
    assert score(logits, np.array([1, 0, 1, 2])) == (2, 2)  # NaN/Inf rows are never correct


def test_golden_file_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, inputs=np.zeros((3, 2)), targets=np.zeros(3))
    with pytest.raises(Exception, match="missing array\\(s\\) labels"):
        load_golden(bad)
    good = tmp_path / "good.npz"
    np.savez(good, inputs=np.arange(10.0).reshape(5, 2), labels=np.arange(5))
    golden = load_golden(good)
    inputs, labels, nxt = golden.batch(3, 4)  # wraps around
    assert labels.tolist() == [3, 4, 0, 1] and nxt == 2 and isinstance(golden, GoldenSet)


# --- rendering -------------------------------------------------------------------------------------
def test_plain_passthrough_is_byte_for_byte_on_every_recording() -> None:
    for path in all_recordings():
        text = path.read_text()
        scanned = textparse.scan(text)
        rendered = "".join(render.render_passthrough(f, openmetrics=False) for f in scanned.families)
        # every line of the recording but blank ones and non-metadata comments, in order
        expected = "".join(line + "\n" for line in text.splitlines() if line.strip())
        assert rendered == expected, path.name


def test_openmetrics_passthrough_is_valid_and_keeps_sample_names() -> None:
    for path in all_recordings():
        scanned = textparse.scan(path.read_text())
        merged = render.merge_split_families([(f, frozenset()) for f in scanned.families])
        body = "".join(render.render_passthrough(f, openmetrics=True) for f, _ in merged) + "# EOF\n"
        families = list(parse_openmetrics(body))  # raises on invalid OpenMetrics
        names = {s.name for f in families for s in f.samples}
        assert names == {s.name for f in scanned.families for s in f.samples()}, path.name


def test_drop_labels_keeps_the_other_pairs_byte_for_byte() -> None:
    text = 'x{a="1",pod_uid="u1",b="q\\"z"} 1.000000\nx{a="1",pod_uid="u2",b="q\\"z"} 2\n'
    family = textparse.scan(text).families[0]
    assert render.drop_labels(family, frozenset({"pod_uid"})) == ['x{a="1",b="q\\"z"} 1.000000']


def test_own_counter_names_in_both_formats() -> None:
    family = render.OwnFamily("triton_slo_scrape_errors", "counter", "Errors.")
    family.add('{upstream="dcgm",reason="timeout"}', 3, "_total")
    plain = render.render_own([family], openmetrics=False)
    assert "# TYPE triton_slo_scrape_errors_total counter" in plain
    assert 'triton_slo_scrape_errors_total{upstream="dcgm",reason="timeout"} 3.0' in plain
    om = render.render_own([family], openmetrics=True) + "# EOF\n"
    parsed = list(parse_openmetrics(om))
    assert parsed[0].name == "triton_slo_scrape_errors" and parsed[0].samples[0].value == 3


def test_nan_stays_nan_in_passthrough() -> None:
    text = '# TYPE q summary\nq{quantile="0.99"} NaN\nq_sum 0\nq_count 0\n'
    family = textparse.scan(text).families[0]
    assert render.render_passthrough(family, False) == text
    assert math.isnan(family.samples()[0].value)


# --- flags and config ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--triton", "localhost:8000", "--listen", ":0"], "--triton: 'localhost:8000' is not an http(s) URL"),
        (["--triton", "http://h:8000", "--listen", "nowhere"], "--listen: 'nowhere' is not HOST:PORT"),
        (["--triton", "http://h:8000", "--listen", ":1", "--dcgm", "ftp://x"], "--dcgm: 'ftp://x' is not"),
        (["--triton", "http://h:8000", "--listen", ":1", "--config", "/nonexistent.yaml"], "cannot read"),
        (["--listen", ":1"], "--triton: required"),
        (["--triton", "http://h:8000", "--listen", ":1", "--triton-token-file", "/nonexistent"], "token file"),
        (["--triton", "http://h:8000", "--listen", ":1", "--golden", "/nonexistent.npz"], "--golden"),
    ],
)
def test_bad_flags_are_one_line_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_config_file_errors_name_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "exporter.yaml"
    for body, message in [
        ("triton: {url: http://h:8000}\nlisten: ':1'\nprobes: {intervall: 5s}\n", "probes.intervall: unknown key"),
        ("triton: {url: http://h:8000}\nlisten: ':1'\nprobes: {interval: soon}\n", "probes.interval:"),
        ("triton: {url: http://h:8000}\nlisten: ':1'\nprobes: {buckets: [0.1, 0.01]}\n", "probes.buckets"),
        ("triton: [oops\n", "not valid YAML"),
    ]:
        config.write_text(body)
        assert main(["export", "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_metrics_url_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from triton_slo.exporters.config import build

    monkeypatch.setenv("MY_TOKEN", "s3cret-value")
    args = argparse.Namespace(triton="http://10.0.0.5:8000", triton_metrics=None, dcgm="http://10.0.0.5:9400",
                              listen="127.0.0.1:9874", config=None, triton_token_env="MY_TOKEN")
    config = build(args)
    assert config.triton_metrics_url == "http://10.0.0.5:8002/metrics"
    assert config.dcgm_url == "http://10.0.0.5:9400/metrics"
    assert config.access_token == "s3cret-value" and "s3cret" not in repr(config)


def test_help_shows_both_urls(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    out = capsys.readouterr().out
    assert "--triton URL" in out and "--dcgm URL" in out and "port + 2" in out
