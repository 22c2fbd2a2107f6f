"""The exporter on a REAL recording of Triton serving two models on a GPU (NVIDIA H200).

tests/recordings/triton_gpu_H200/ holds what tritonserver 2.51 (nvidia-pytriton 0.7.0's binary)
printed while two Python-backend residual MLPs ran KIND_GPU on an H200: /metrics at idle, under
load and after it, its HTTP API answers, and nvidia-smi's output, byte for byte
(tests/recordings/SOURCE.md says how they were made; record_triton_gpu.py made them).

What the recording shows, and these tests hold the exporter to:

- Triton's GPU families (nv_gpu_*, nv_energy_consumption) carry ``gpu_uuid``, the UUID nvidia-smi
  gives the GPU; utilisation and power go up under load.
- Triton's per-model families (nv_inference_*) carry NO ``gpu_uuid``, also for KIND_GPU instances:
  Triton core builds their labels without it (the code is commented out in
  metric_model_reporter.cc). So the exporter's "gpu_uuid from the metrics wins" path never fires on
  this Triton; the model -> GPU join comes from the model config's instance group (``gpus: [0]``,
  which Triton fills in itself) mapped to a UUID by GPU index.
- The GPU index -> UUID map here is nvidia-smi's (``--query-gpu=uuid,name,index``): no
  dcgm-exporter ran on that machine, and its output is not invented here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
from harness.stack.httpserver import BackgroundHTTPServer, QuietHandler
from test_exporter_helpers import exporter_args
from test_exporter_textparse import client_view, our_view
from triton_slo.exporters.config import build
from triton_slo.exporters.exporter import TRITON, TRITON_API, Exporter, model_families, model_gpu_family
from triton_slo.exporters.render import render_own
from triton_slo.exporters.textparse import Scan, parse_labels, scan
from triton_slo.exporters.triton_api import summarize_config, summarize_stats

RECORDING = Path(__file__).resolve().parent / "recordings" / "triton_gpu_H200"
METRICS = ("metrics_idle.prom", "metrics_load.prom", "metrics_after.prom")
MODELS = ("residual_deep", "residual_mlp")
GPU_FAMILIES = ("nv_gpu_utilization", "nv_gpu_memory_total_bytes", "nv_gpu_memory_used_bytes",
                "nv_gpu_power_usage", "nv_gpu_power_limit", "nv_energy_consumption")


def read(name: str) -> bytes:
    return (RECORDING / name).read_bytes()


def metrics(name: str) -> Scan:
    return scan(read(name).decode())


def smi_gpus() -> dict[str, str]:
    """UUID -> index, from nvidia-smi's CSV."""
    rows = list(csv.reader(io.StringIO(read("nvidia_smi.csv").decode()), skipinitialspace=True))
    assert rows[0] == ["uuid", "name", "index"]
    return {uuid: index for uuid, _name, index in rows[1:]}


def gpu_value(page: Scan, family: str) -> dict[str, float]:
    """gpu_uuid -> value of one of Triton's GPU families."""
    found = next(f for f in page.families if f.name == family)
    return {s.labels["gpu_uuid"]: s.value for s in found.samples()}


class _RecordedTriton(QuietHandler):
    """Answers with the recorded bytes of Triton's HTTP API and /metrics (health: empty 200s, as recorded)."""

    def _file(self, name: str) -> None:
        self.send_body(200, read(name), "text/plain" if name.endswith(".prom") else "application/json")

    def do_GET(self) -> None:  # noqa: N802
        path = self.path
        if path in ("/v2/health/live", "/v2/health/ready"):
            self.send_body(200, b"", "text/plain")
        elif path == "/v2/models/stats":
            self._file("model_stats.json")
        elif path.startswith("/v2/models/") and path.endswith("/versions/1/config"):
            model = path.split("/")[3]
            if model in MODELS:
                self._file(f"config_{model}.json")
            else:
                self.send_body(404, b'{"error":"not found"}', "application/json")
        elif path == "/metrics":
            self._file("metrics_load.prom")
        else:
            self.send_body(404, b'{"error":"not found"}', "application/json")

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v2/repository/index":
            self._file("repository_index.json")
        else:
            self.send_body(404, b'{"error":"not found"}', "application/json")


@pytest.fixture
def recorded_triton():
    api = BackgroundHTTPServer(_RecordedTriton, "recorded-triton")
    api.start()
    yield api
    api.stop()


def test_recording_is_byte_for_byte_what_the_device_wrote() -> None:
    """sha256 of every file as the recording script computed it on the GPU machine (record.json)."""
    record = json.loads(read("record.json"))
    assert record["mode"] == "KIND_GPU" and record["failures"] == []
    assert set(record["files"]) >= {*METRICS, "repository_index.json", "model_stats.json", "nvidia_smi.csv",
                                    *(f"config_{m}.json" for m in MODELS)}
    for name, entry in record["files"].items():
        assert hashlib.sha256(read(name)).hexdigest() == entry["sha256"], name
    source = (RECORDING.parent / "SOURCE.md").read_text()
    for name in record["files"]:
        assert f"{hashlib.sha256(read(name)).hexdigest()}  triton_gpu_H200/{name}" in source, name


@pytest.mark.parametrize("name", METRICS)
def test_real_gpu_metrics_parse_like_prometheus_client(name: str) -> None:
    text = read(name).decode()
    page = scan(text)
    assert page.bad_lines == 0
    names = {f.name for f in page.families}
    assert set(GPU_FAMILIES) | {"nv_inference_count", "nv_inference_request_summary_us"} <= names
    assert our_view(text) == client_view(text)
    assert page.samples == sum(1 for line in text.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize("name", METRICS)
def test_gpu_series_carry_the_uuid_nvidia_smi_gives(name: str) -> None:
    (uuid,) = smi_gpus()
    assert uuid.startswith("GPU-")
    page = metrics(name)
    for family in GPU_FAMILIES:
        assert set(gpu_value(page, family)) == {uuid}, family


@pytest.mark.parametrize("name", METRICS)
def test_per_model_series_carry_no_gpu_uuid_even_on_a_gpu(name: str) -> None:
    """Real Triton 2.51, KIND_GPU instances: model and version only (plus reason/quantile)."""
    page = metrics(name)
    per_model = [f for f in page.families if f.name.startswith("nv_inference_")]
    assert len(per_model) >= 10
    for family in per_model:
        for sample in family.samples():
            assert sample.labels["model"] in MODELS
            assert set(sample.labels) - {"model", "version", "reason", "quantile"} == set(), sample
    # hence the metrics path of model_gpu_family finds nothing, whatever the UUID map
    family = model_gpu_family(None, page, smi_gpus())
    assert render_own([family], openmetrics=False).count("triton_slo_model_gpu_info{") == 0


def test_gpu_utilisation_and_power_rise_under_load() -> None:
    (uuid,) = smi_gpus()
    idle, load, after = (metrics(name) for name in METRICS)
    utilisation = [gpu_value(p, "nv_gpu_utilization")[uuid] for p in (idle, load, after)]
    assert utilisation == [0.0, 1.0, 0.0]  # Triton's ratio, 0..1
    power = [gpu_value(p, "nv_gpu_power_usage")[uuid] for p in (idle, load, after)]
    assert power[1] > 2 * power[0] and power[1] > 2 * power[2]
    assert power[1] < gpu_value(load, "nv_gpu_power_limit")[uuid]
    energy = [gpu_value(p, "nv_energy_consumption")[uuid] for p in (idle, load, after)]
    assert energy[0] < energy[1] < energy[2]
    used = gpu_value(load, "nv_gpu_memory_used_bytes")[uuid]
    assert 1 << 30 < used < gpu_value(load, "nv_gpu_memory_total_bytes")[uuid]
    # nvidia-smi, asked at the same moment as the load scrape, agrees
    row = list(csv.DictReader(io.StringIO(read("nvidia_smi_load.csv").decode()), skipinitialspace=True))[0]
    assert row["uuid"] == uuid and float(row["utilization.gpu [%]"].rstrip(" %")) >= 90


def test_real_configs_say_kind_gpu_on_gpu_0() -> None:
    for model in MODELS:
        config = summarize_config(json.loads(read(f"config_{model}.json")))
        assert (config.backend, config.instance_kind, config.instance_count, config.gpus) == ("python", "gpu", 1, (0,))
        assert config.max_batch_size == 64 and config.dynamic_batching


def test_statistics_agree_with_the_metrics_after_the_load() -> None:
    stats = {s.model: s for s in map(summarize_stats, json.loads(read("model_stats.json"))["model_stats"])}
    assert set(stats) == set(MODELS)
    after = metrics("metrics_after.prom")
    success = next(f for f in after.families if f.name == "nv_inference_request_success")
    by_model = {s.labels["model"]: s.value for s in success.samples()}
    load = json.loads(read("record.json"))["load"]["requests"]
    for model in MODELS:
        assert stats[model].success == by_model[model] == load[model]["ok"] + 3  # + 3 warm-up requests
        assert stats[model].fail == 0
        assert set(stats[model].batch_executions) <= {16, 32, 48, 64}  # 16 samples a request, at most 64


def test_model_gpu_info_from_real_api_answers_names_the_gpu(recorded_triton) -> None:  # noqa: ANN001
    """Our TritonApi reads the recorded answers; the join names the GPU nvidia-smi and Triton's nv_gpu_* name."""
    exporter = Exporter(build(exporter_args(triton=recorded_triton.base_url, no_passthrough=True, timeout="5s")))
    try:
        result = exporter.snapshot().results[TRITON_API]
    finally:
        exporter.close()
    assert result.up and result.api is not None and result.api.errors == []
    api = result.api
    assert [(m.model, m.version, m.ready) for m in api.models] == [(m, "1", True) for m in MODELS]
    assert {key: c.gpus for key, c in api.configs.items()} == {(m, "1"): (0,) for m in MODELS}

    index_by_uuid = smi_gpus()
    (uuid,) = index_by_uuid
    assert set(gpu_value(metrics("metrics_load.prom"), "nv_gpu_utilization")) == {uuid}
    text = render_own([model_gpu_family(api, metrics("metrics_after.prom"), index_by_uuid)], openmetrics=False)
    lines = sorted(line for line in text.splitlines() if line.startswith("triton_slo_model_gpu_info{"))
    assert lines == [f'triton_slo_model_gpu_info{{model="{m}",version="1",gpu="0",UUID="{uuid}"}} 1.0'
                     for m in MODELS]
    info = render_own(model_families(api), openmetrics=False)
    for model in MODELS:
        assert (f'triton_slo_model_info{{model="{model}",version="1",platform="",backend="python",'
                f'max_batch_size="64",dynamic_batching="true",instance_kind="gpu",instance_count="1"}} 1.0') in info


def test_exporter_page_on_the_real_recording(recorded_triton) -> None:  # noqa: ANN001
    """A whole scrape: Triton's GPU lines pass through byte for byte, and each model is put on GPU 0."""
    exporter = Exporter(build(exporter_args(triton=recorded_triton.base_url,
                                            triton_metrics=recorded_triton.base_url + "/metrics", timeout="5s")))
    try:
        snapshot = exporter.snapshot()
        page = snapshot.body(openmetrics=False, gzipped=False).decode()
    finally:
        exporter.close()
    assert snapshot.results[TRITON].up and snapshot.results[TRITON].scan.bad_lines == 0
    recorded = read("metrics_load.prom").decode().splitlines()
    gpu_lines = [line for line in recorded if line.startswith(GPU_FAMILIES)]
    assert len(gpu_lines) == len(GPU_FAMILIES)
    for line in gpu_lines:
        assert line + "\n" in page
    # no dcgm-exporter upstream: the config gives the index, and Triton's own nv_gpu_* series (one
    # GPU) the UUID, which must be the one nvidia-smi printed on that machine
    (uuid,) = smi_gpus()
    rows = [parse_labels(line[line.find("{"): line.rfind("}") + 1])
            for line in page.splitlines() if line.startswith("triton_slo_model_gpu_info{")]
    assert sorted((r["model"], r["version"], r["gpu"], r["UUID"]) for r in rows) == [
        (m, "1", "0", uuid) for m in MODELS]
