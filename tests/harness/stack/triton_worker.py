"""The process that trains the models and serves them with PyTriton (started by ``TritonServer``).

Run as ``python -m harness.stack.triton_worker CONFIG.json``. Besides Triton it serves a small
control API on loopback, so the test process can switch faults inside the models:

- ``GET /status``: ``{"ready": bool, "pid": int, "rss_bytes": int, "models": {name: {...}}}``
- ``POST /fault`` ``{"model", "fault", "enabled", "params"}``: switch a fault (400 on a bad one)
- ``POST /clear``: switch every fault off
- ``POST /unload`` ``{"model"}``: unload a model (not ready from then on; the others keep serving)

It stops Triton cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from harness.stack.faults import FaultError, ServedModel
from harness.stack.httpserver import BackgroundHTTPServer, QuietHandler
from harness.stack.models import INPUT_NAME, INPUT_SHAPE, NUM_CLASSES, OUTPUT_NAME, load_digits_split, load_or_train

LOG = logging.getLogger("harness.stack.triton_worker")


class _ControlHandler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - stdlib handler name
        if self.path != "/status":
            self.send_json(404, {"error": f"no route {self.path}"})
            return
        self.send_json(200, self.owner.status())

    def do_POST(self) -> None:  # noqa: N802 - stdlib handler name
        try:
            body = self.read_json()
        except ValueError:
            self.send_json(400, {"error": "body is not JSON"})
            return
        try:
            if self.path == "/fault":
                result = self.owner.set_fault(body)
            elif self.path == "/clear":
                result = self.owner.clear()
            elif self.path == "/unload":
                result = self.owner.unload(body["model"])
            else:
                self.send_json(404, {"error": f"no route {self.path}"})
                return
        except (FaultError, KeyError, TypeError) as exc:
            self.send_json(400, {"error": str(exc)})
            return
        except Exception as exc:  # noqa: BLE001 - reported to the caller, who raises it
            LOG.exception("control %s failed", self.path)
            self.send_json(500, {"error": f"{type(exc).__name__}: {exc}"})
            return
        self.send_json(200, result)


class ControlServer(BackgroundHTTPServer):
    def __init__(self, port: int) -> None:
        super().__init__(_ControlHandler, "triton-control", port)
        self.models: dict[str, ServedModel] = {}
        self.golden_accuracy: dict[str, float] = {}
        self.ready = False
        self.triton: Any = None  # pytriton.triton.Triton, once it runs

    def status(self) -> dict[str, Any]:
        models = {
            name: {
                "golden_accuracy": self.golden_accuracy.get(name),
                "faults": model.faults(),
                "requests": model.requests,
                "retained_bytes": model.retained_bytes,
            }
            for name, model in self.models.items()
        }
        return {"ready": self.ready, "pid": os.getpid(), "rss_bytes": _rss_bytes(), "models": models}

    def set_fault(self, body: dict[str, Any]) -> dict[str, Any]:
        model = body["model"]
        if model not in self.models:
            raise FaultError(f"model {model!r} is not served here (served: {', '.join(self.models)})")
        params = self.models[model].set_fault(body["fault"], bool(body.get("enabled", True)), **body.get("params", {}))
        return {"model": model, "fault": body["fault"], "enabled": bool(body.get("enabled", True)), "params": params}

    # Unloading through Triton's repository API alone makes PyTriton stop the whole server (its
    # inference handler closes under it), so the model's handler is cleaned first through
    # PyTriton's (private) model manager. Loading back is not offered: PyTriton 0.7 cannot
    # reconnect a cleaned model's tensor store (AuthenticationError); restart the server instead.
    def _pytriton_model(self, name: str) -> Any:
        if self.triton is None:
            raise FaultError("Triton is not running yet")
        model = next((m for m in self.triton._model_manager.models if m.model_name == name), None)
        if model is None:
            raise FaultError(f"model {name!r} is not served here (served: {', '.join(self.models)})")
        return model

    def unload(self, name: str) -> dict[str, Any]:
        from pytriton.client.utils import create_client_from_url

        model = self._pytriton_model(name)
        model.clean()  # clears its event observers first, so closing its handler does not stop Triton
        client = create_client_from_url(self.triton._url, network_timeout_s=60)
        try:
            client.unload_model(name, headers=self.triton._headers)
        finally:
            client.close()
        return {"unloaded": name}

    def clear(self) -> dict[str, Any]:
        for model in self.models.values():
            for fault in model.faults():
                model.set_fault(fault, enabled=False)
        return {"cleared": list(self.models)}


def _rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _infer_function(model: ServedModel):  # noqa: ANN202 - a PyTriton inference callable
    from pytriton.decorators import batch

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        return {OUTPUT_NAME: model.infer(inputs[INPUT_NAME])}

    return infer


def serve(config: dict[str, Any]) -> int:
    import torch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

    torch.set_num_threads(int(config.get("torch_threads", 1)))
    parent_pid = int(config.get("parent_pid", os.getppid()))
    control = ControlServer(int(config["control_port"]))
    control.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    digits = load_digits_split()
    cache = Path(config["weights_dir"]) if config.get("weights_dir") else None
    for name in config["models"]:
        net, accuracy = load_or_train(name, digits, cache)
        control.models[name] = ServedModel(name, net)
        control.golden_accuracy[name] = accuracy
        LOG.info("model %s ready, golden accuracy %.3f", name, accuracy)

    triton_config = TritonConfig(
        http_address="127.0.0.1",
        http_port=int(config["http_port"]),
        grpc_address="127.0.0.1",
        grpc_port=int(config["grpc_port"]),
        metrics_address="127.0.0.1",
        metrics_port=int(config["metrics_port"]),
        allow_metrics=True,
        allow_gpu_metrics=False,
        allow_cpu_metrics=True,
        metrics_interval_ms=int(config.get("metrics_interval_ms", 1000)),
        metrics_config=["summary_latencies=true"],
        log_verbose=int(config.get("log_verbose", 0)),
        exit_timeout_secs=5,
    )
    security = TritonSecurityConfig(access_token=config["access_token"])
    model_config = ModelConfig(
        max_batch_size=int(config.get("max_batch_size", 512)),
        batcher=DynamicBatcher(max_queue_delay_microseconds=int(config.get("max_queue_delay_us", 500))),
    )
    with Triton(config=triton_config, workspace=config["workspace"], security_config=security) as triton:
        for name, model in control.models.items():
            triton.bind(
                model_name=name,
                infer_func=_infer_function(model),
                inputs=[Tensor(name=INPUT_NAME, dtype=np.float32, shape=INPUT_SHAPE)],
                outputs=[Tensor(name=OUTPUT_NAME, dtype=np.float32, shape=(NUM_CLASSES,))],
                config=model_config,
                strict=True,
            )
        control.triton = triton
        control.ready = True
        LOG.info("serving %s", ", ".join(control.models))
        live_url = f"http://127.0.0.1:{config['http_port']}/v2/health/live"
        failures = 0
        while not stop.wait(1.0):
            if os.getppid() != parent_pid:
                LOG.error("the process that started this worker is gone; stopping")
                break
            # Triton's own liveness, not PyTriton's is_alive(): that is false while a model is unloaded.
            failures = 0 if _answers(live_url) else failures + 1
            if failures >= 3:
                LOG.error("Triton stopped answering %s; exiting", live_url)
                control.stop()
                return 1
    control.stop()
    return 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s")
    if len(argv) != 1:
        print("usage: python -m harness.stack.triton_worker CONFIG.json", file=sys.stderr)
        return 2
    return serve(json.loads(Path(argv[0]).read_text()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
