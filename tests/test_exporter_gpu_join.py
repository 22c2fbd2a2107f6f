"""Joining DCGM series to models: triton_slo_model_gpu_info in PromQL.

What the real parts allow here: the stack's Triton runs on CPU (no GPU instance groups, no
gpu_uuid), and the Triton recording's per-model series carry no gpu_uuid either (only its nv_gpu_*
families do, of a T4 that none of the dcgm recordings is). So the model side of the join is a
CONSTRUCTED Triton HTTP API answer below (a model config with a KIND_GPU instance group on GPU 0,
in Triton's JSON format), clearly not output of a real server; the GPU side is a real dcgm-exporter
recording, and the join runs in the real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness.stack.httpserver import BackgroundHTTPServer, QuietHandler
from test_exporter_helpers import exporter_args
from triton_slo.exporters.config import build
from triton_slo.exporters.exporter import Exporter, model_gpu_family
from triton_slo.exporters.render import render_own
from triton_slo.exporters.server import MetricsServer, load_web_config
from triton_slo.exporters.textparse import scan

GPU_MODEL_CONFIG = {  # the fields Triton's /config answer has for a GPU model (constructed)
    "name": "resnet_gpu", "platform": "onnxruntime_onnx", "backend": "onnxruntime", "max_batch_size": 64,
    "dynamic_batching": {"max_queue_delay_microseconds": 100},
    "instance_group": [{"name": "resnet_gpu_0", "kind": "KIND_GPU", "count": 2, "gpus": [0]}],
}


class _ConstructedTriton(QuietHandler):
    def _json(self, body: object) -> None:
        self.send_body(200, json.dumps(body).encode(), "application/json")

    def do_GET(self) -> None:  # noqa: N802
        if self.path in ("/v2/health/live", "/v2/health/ready"):
            self.send_body(200, b"", "text/plain")
        elif self.path == "/v2/models/resnet_gpu/versions/1/config":
            self._json(GPU_MODEL_CONFIG)
        elif self.path == "/v2/models/stats":
            self._json({"model_stats": []})
        else:
            self.send_body(404, b'{"error":"not found"}', "application/json")

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v2/repository/index":
            self._json([{"name": "resnet_gpu", "version": "1", "state": "READY", "reason": ""}])
        else:
            self.send_body(404, b'{"error":"not found"}', "application/json")


def test_model_gpu_info_from_metrics_uuid_wins_over_config(shared_dir: Path) -> None:
    dcgm = scan((shared_dir / "fixtures" / "dcgm_L4_kops_default-counters.prom").read_text())
    from triton_slo.exporters.dcgm import gpu_index_by_uuid

    index = gpu_index_by_uuid(dcgm.families)
    uuid = "GPU-c2f76b33-7953-256e-8f33-1343419b1a1c"
    assert index == {uuid: "0"}
    # Triton's per-model series with gpu_uuid (line format as older Tritons wrote it; constructed values;
    # 2.51 writes none, see tests/recordings/triton_gpu_H200), plus the series without gpu_uuid kept at 0
    triton = scan(
        "# TYPE nv_inference_count counter\n"
        f'nv_inference_count{{gpu_uuid="{uuid}",model="m",version="3"}} 10\n'
        'nv_inference_count{model="m",version="3"} 0\n'
    )
    text = render_own([model_gpu_family(None, triton, index)], openmetrics=False)
    assert f'triton_slo_model_gpu_info{{model="m",version="3",gpu="0",UUID="{uuid}"}} 1.0' in text


@pytest.mark.stack
def test_promql_joins_dcgm_memory_to_a_model(replay, shared_dir: Path, prometheus_factory) -> None:  # noqa: ANN001
    recording = shared_dir / "fixtures" / "dcgm_L4_kops_default-counters.prom"
    replay.set("/gpu-join/dcgm/metrics", recording)
    api = BackgroundHTTPServer(_ConstructedTriton, "constructed-triton")
    api.start()
    exporter = Exporter(build(exporter_args(triton=api.base_url, dcgm=replay.url("/gpu-join/dcgm/metrics"),
                                            no_passthrough=False, timeout="2s")))
    server = MetricsServer(exporter, "127.0.0.1", 0, load_web_config(None))
    server.start()
    try:
        prometheus = prometheus_factory([{"job": "triton-slo", "url": server.url}])
        joined = prometheus.wait_for_series(
            "DCGM_FI_DEV_FB_FREE * on (UUID) group_left (model, version) triton_slo_model_gpu_info", timeout=20)
        assert joined[0]["metric"]["model"] == "resnet_gpu" and joined[0]["metric"]["version"] == "1"
        assert float(joined[0]["value"][1]) == 22563  # the recording's free framebuffer, MiB
        headroom = prometheus.query(
            "triton_slo_gpu_memory_headroom_ratio * on (UUID) group_left (model) triton_slo_model_gpu_info")
        assert float(headroom[0]["value"][1]) == pytest.approx(22563 / (22563 + 0 + 470))
        info = prometheus.query("triton_slo_model_info")[0]["metric"]
        assert (info["instance_kind"], info["instance_count"]) == ("gpu", "2")
    finally:
        server.stop()
        exporter.close()
        api.stop()
