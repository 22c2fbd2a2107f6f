"""Record what a real Triton Inference Server says about GPU models, byte for byte.

Starts the ``tritonserver`` binary of the nvidia-pytriton wheel (not PyTriton's Python API) on a
model repository written here: two Python-backend models running residual MLPs in PyTorch, one
instance each, KIND_GPU when a GPU is there (else KIND_CPU, for trying the script out). It then

- waits for readiness, warms the models up, scrapes ``/metrics`` at idle (``metrics_idle.prom``),
- puts load on them with plain KServe v2 JSON inference requests (several threads, loopback only,
  bounded in time and count), scrapes ``/metrics`` during the load (``metrics_load.prom``) and
  runs ``nvidia-smi -q`` then,
- scrapes ``/metrics`` after the load (``metrics_after.prom``) and records the HTTP API answers the
  exporter reads (``POST /v2/repository/index``, ``GET /v2/models/<m>/versions/1/config``,
  ``GET /v2/models/stats``, health, server metadata),
- stops the server and writes ``record.json`` (commands, versions, load counts, sha256 of every
  file) and the server's log.

Every recorded answer is written exactly as received (``bytes``), never re-encoded.

Usage (the wheel unpacked to PYT with ``python3 -m zipfile -e nvidia_pytriton-*.whl PYT``)::

    python3 tests/recordings/record_triton_gpu.py --pytriton PYT --out DIR [--load-seconds 75]

The interpreter that runs this script is the one the Python-backend stub embeds (its version
picks the stub, its LIBDIR and site-packages go to LD_LIBRARY_PATH and PYTHONPATH); it needs
torch and numpy. Standard library only otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
FEATURES, CLASSES = 64, 16  # model input and output widths (small: JSON requests stay cheap)
REQUEST_BATCH = 16  # samples per inference request; dynamic batching merges up to max_batch_size
MAX_BATCH = 64
LOG_KEEP = 200_000  # bytes of the server log kept from its start and from its end

# name -> (width, residual blocks, passes over the blocks) on a GPU; on CPU everything is tiny
GPU_MODELS = {"residual_mlp": (4096, 8, 6), "residual_deep": (2048, 32, 3)}
CPU_MODELS = {"residual_mlp": (128, 2, 1), "residual_deep": (64, 6, 1)}

MODEL_PY = '''\
"""A residual MLP in PyTorch behind the Python backend (written by record_triton_gpu.py)."""

import json
import os
import sys

# the stub's interpreter finds the venv through PATH; should it not, the script names its site-packages
sys.path.extend(p for p in os.environ.get("RECORD_SITE_PACKAGES", "").split(os.pathsep) if p and p not in sys.path)

import torch  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class Block(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = torch.nn.LayerNorm(width)
        self.up = torch.nn.Linear(width, width)
        self.down = torch.nn.Linear(width, width)

    def forward(self, x):
        return x + 0.1 * self.down(torch.nn.functional.gelu(self.up(self.norm(x))))  # skip connection


class Net(torch.nn.Module):
    def __init__(self, features, classes, width, blocks, passes):
        super().__init__()
        self.inp = torch.nn.Linear(features, width)
        self.blocks = torch.nn.ModuleList(Block(width) for _ in range(blocks))
        self.out = torch.nn.Linear(width, classes)
        self.passes = passes

    def forward(self, x):
        h = self.inp(x)
        for _ in range(self.passes):
            for block in self.blocks:
                h = block(h)
        return self.out(h)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: int(v["string_value"]) for k, v in config.get("parameters", {}).items()}
        if args["model_instance_kind"] == "GPU":
            self.device = torch.device("cuda", int(args["model_instance_device_id"]))
        else:
            self.device = torch.device("cpu")
        torch.manual_seed(0)
        self.net = Net(params["features"], params["classes"], params["width"], params["blocks"], params["passes"])
        self.net = self.net.to(self.device).eval()

    def execute(self, requests):
        # Tensors cross the stub through DLPack, not as_numpy()/Tensor(name, ndarray): the stub's
        # numpy glue reads numpy 1's dtype layout, and under numpy 2 inputs come out wrong and every
        # response fails with "output tensor shape does not match size of output".
        inputs = [torch.from_dlpack(pb_utils.get_input_tensor_by_name(r, "INPUT")) for r in requests]
        with torch.inference_mode():
            x = torch.cat(inputs).to(self.device)
            y = self.net(x).float().cpu()
        responses = []
        start = 0
        for array in inputs:
            size = array.shape[0]
            out = pb_utils.Tensor.from_dlpack("OUTPUT", y[start:start + size].clone())
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
            start += size
        return responses
'''

CONFIG_PBTXT = """\
name: "{name}"
backend: "python"
max_batch_size: {max_batch}
input [ {{ name: "INPUT", data_type: TYPE_FP32, dims: [ {features} ] }} ]
output [ {{ name: "OUTPUT", data_type: TYPE_FP32, dims: [ {classes} ] }} ]
instance_group [ {{ kind: {kind}, count: 1 }} ]
dynamic_batching {{ max_queue_delay_microseconds: 2000 }}
parameters: {{ key: "features" value: {{ string_value: "{features}" }} }}
parameters: {{ key: "classes" value: {{ string_value: "{classes}" }} }}
parameters: {{ key: "width" value: {{ string_value: "{width}" }} }}
parameters: {{ key: "blocks" value: {{ string_value: "{blocks}" }} }}
parameters: {{ key: "passes" value: {{ string_value: "{passes}" }} }}
"""


def log(message: str) -> None:
    print(f"[record {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((LOOPBACK, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_tool(cmd: list[str], timeout: float = 60) -> tuple[int, bytes, bytes]:
    """(returncode, stdout, stderr) of a command; 127 when it is missing, 124 on timeout."""
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        return 127, b"", str(exc).encode()
    except subprocess.TimeoutExpired:
        return 124, b"", b"timeout"
    return done.returncode, done.stdout, done.stderr


def call(port: int, method: str, path: str, body: bytes | None = None, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def find_libpython() -> tuple[str, list[str]]:
    """The folder holding this interpreter's libpythonX.Y.so.1.0 (what the stub links), and where it looked."""
    name = f"libpython{sys.version_info.major}.{sys.version_info.minor}.so.1.0"
    places = [sysconfig.get_config_var("LIBDIR") or "", os.path.join(sys.base_prefix, "lib"),
              "/usr/lib/x86_64-linux-gnu", "/usr/local/lib", "/usr/lib64", "/usr/lib"]
    looked = []
    for place in places:
        if place and place not in looked:
            looked.append(place)
            if os.path.exists(os.path.join(place, name)):
                return place, looked
    return "", looked


class Recorder:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix="record-triton-"))
        self.record: dict[str, Any] = {"started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                       "steps": [], "files": {}, "failures": []}
        self.server: subprocess.Popen | None = None
        self.log_file: Any = None
        self.http_port = self.grpc_port = self.metrics_port = 0
        self.gpu = False  # nvidia-smi answers
        self.kind_gpu = False  # the models run KIND_GPU
        self.models: dict[str, tuple[int, int, int]] = {}

    # --- files ------------------------------------------------------------------------------------
    def save(self, name: str, data: bytes, what: str) -> None:
        (self.out / name).write_bytes(data)
        self.record["files"][name] = {"what": what, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        log(f"saved {name} ({len(data)} bytes): {what}")

    def fail(self, what: str) -> None:
        self.record["failures"].append(what)
        log(f"FAILED: {what}")

    def step(self, what: str) -> None:
        self.record["steps"].append({"t_utc": time.strftime("%H:%M:%S", time.gmtime()), "what": what})
        log(what)

    # --- machine ----------------------------------------------------------------------------------
    def machine(self) -> None:
        self.record["host"] = {"python": sys.version.split()[0], "executable": sys.executable,
                               "platform": platform.platform(), "cpus": os.cpu_count()}
        cmd = ["nvidia-smi", "--query-gpu=uuid,name,index", "--format=csv"]
        rc, out, err = run_tool(cmd)
        self.record["nvidia_smi_csv_command"] = " ".join(cmd)
        if rc == 0 and out.strip():
            self.save("nvidia_smi.csv", out, " ".join(cmd) + " (before the server started)")
            self.record["folder"] = gpu_folder_name(out)
            self.smi_query("nvidia_smi_q_idle.txt", ["nvidia-smi", "-q"], "before the server started")
            self.gpu = True
            self.kind_gpu = not self.args.cpu
        else:
            self.record["nvidia_smi_csv_error"] = f"rc={rc} {err.decode(errors='replace')[:300]}"
            log(f"no GPU (nvidia-smi rc={rc}): KIND_CPU fallback")
        cmd = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,pci.bus_id", "--format=csv"]
        rc, out, _ = run_tool(cmd)
        if rc == 0:
            self.record["nvidia_smi_gpu"] = out.decode(errors="replace")
        try:
            import torch

            self.record["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda,
                                    "cuda_available": torch.cuda.is_available()}
            if self.kind_gpu and not torch.cuda.is_available():
                self.fail("nvidia-smi sees a GPU but torch.cuda.is_available() is False")
        except ImportError as exc:
            self.fail(f"torch does not import: {exc}")
        self.models = GPU_MODELS if self.kind_gpu else CPU_MODELS
        self.record["mode"] = "KIND_GPU" if self.kind_gpu else "KIND_CPU"

    # --- server -----------------------------------------------------------------------------------
    def prepare(self) -> tuple[list[str], dict[str, str]]:
        root = Path(self.args.pytriton).resolve()
        server_dir = root / "pytriton" / "tritonserver"
        binary = server_dir / "bin" / "tritonserver"
        backends = server_dir / "backends"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        stub = server_dir / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not binary.exists() or not stub.exists():
            raise SystemExit(f"not found: {binary} or {stub} (unpack the nvidia-pytriton wheel to --pytriton)")
        # what PyTriton does: the stub for this Python version next to the backend (zip extraction drops modes)
        shutil.copy2(stub, backends / "python" / "triton_python_backend_stub")
        for path in (binary, backends / "python" / "triton_python_backend_stub"):
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        libdir, looked = find_libpython()
        self.record["libpython"] = {"found_in": libdir, "looked_in": looked,
                                    "LIBDIR": sysconfig.get_config_var("LIBDIR")}
        log(f"libpython{version}.so.1.0 in {libdir or 'NOT FOUND'} (looked in {looked})")
        if not libdir:
            self.fail(f"libpython{version}.so.1.0 not found in {looked}: the Python-backend stub cannot start")
        repo = self.work / "models"
        kind = "KIND_GPU" if self.kind_gpu else "KIND_CPU"
        for name, (width, blocks, passes) in self.models.items():
            (repo / name / "1").mkdir(parents=True)
            (repo / name / "1" / "model.py").write_text(MODEL_PY)
            (repo / name / "config.pbtxt").write_text(CONFIG_PBTXT.format(
                name=name, max_batch=MAX_BATCH, features=FEATURES, classes=CLASSES, kind=kind,
                width=width, blocks=blocks, passes=passes))
        self.record["model_config_pbtxt"] = {n: (repo / n / "config.pbtxt").read_text() for n in self.models}
        self.record["model_py_sha256"] = hashlib.sha256(MODEL_PY.encode()).hexdigest()
        self.http_port, self.grpc_port, self.metrics_port = free_ports(3)
        cmd = [
            str(binary), f"--model-repository={repo}", f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}", f"--metrics-port={self.metrics_port}",
            "--allow-metrics=true", "--allow-gpu-metrics=true", "--metrics-config=summary_latencies=true",
            "--metrics-interval-ms=1000", f"--backend-directory={backends}",
            f"--backend-config=python,shm-region-prefix-name=record{os.getpid()}",
            "--backend-config=python,shm-default-byte-size=4194304",
            "--log-verbose=0",
        ]
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (libdir, str(root / "nvidia_pytriton.libs"), env.get("LD_LIBRARY_PATH", "")) if p)
        # The stub's embedded interpreter ignores PYTHONPATH; it finds its prefix (a venv's pyvenv.cfg,
        # hence its site-packages) through the first `python3` on PATH, as PyTriton arranges it.
        env["PATH"] = os.pathsep.join((os.path.dirname(sys.executable), env.get("PATH", "")))
        site = (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])
        env["RECORD_SITE_PACKAGES"] = os.pathsep.join(dict.fromkeys(site))
        self.record["server_command"] = cmd
        self.record["server_env"] = {k: env[k] for k in ("LD_LIBRARY_PATH", "PATH", "RECORD_SITE_PACKAGES")}
        return cmd, env

    def start(self, cmd: list[str], env: dict[str, str]) -> bool:
        self.log_file = (self.work / "tritonserver.log").open("wb")
        self.server = subprocess.Popen(cmd, env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, process_group=0)
        self.step(f"tritonserver started, pid {self.server.pid}, ports http {self.http_port} "
                  f"metrics {self.metrics_port}")
        started = time.monotonic()
        while time.monotonic() - started < self.args.startup_timeout:
            if self.server.poll() is not None:
                self.fail(f"tritonserver exited with {self.server.returncode} before it was ready")
                return False
            with contextlib.suppress(OSError):
                if call(self.http_port, "GET", "/v2/health/ready", timeout=2)[0] == 200:
                    self.record["startup_s"] = round(time.monotonic() - started, 1)
                    self.step(f"ready after {self.record['startup_s']} s")
                    return True
            time.sleep(0.5)
        self.fail(f"not ready within {self.args.startup_timeout} s")
        return False

    def stop(self) -> None:
        if self.server is None:
            return
        if self.server.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.fail("tritonserver did not stop within 30 s of SIGTERM: killed")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait(timeout=10)
        # Python-backend stubs share the process group: end any that outlived the server
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.server.pid, signal.SIGKILL)
        self.record["server_returncode"] = self.server.returncode
        self.server = None
        if self.log_file is not None:
            self.log_file.close()
            data = (self.work / "tritonserver.log").read_bytes()
            what = "tritonserver stdout+stderr"
            if len(data) > 2 * LOG_KEEP:
                cut = len(data) - 2 * LOG_KEEP
                marker = f"\n[... {cut} bytes of the log cut here by record_triton_gpu.py ...]\n".encode()
                data = data[:LOG_KEEP] + marker + data[-LOG_KEEP:]
                what += f" (the middle {cut} bytes cut)"
            self.save("tritonserver.log", data, what)

    # --- traffic ----------------------------------------------------------------------------------
    def infer_body(self, rng: random.Random) -> bytes:
        data = [round(rng.uniform(-1, 1), 4) for _ in range(REQUEST_BATCH * FEATURES)]
        return json.dumps({"inputs": [{"name": "INPUT", "shape": [REQUEST_BATCH, FEATURES], "datatype": "FP32",
                                       "data": data}], "outputs": [{"name": "OUTPUT"}]}).encode()

    def warm_up(self) -> None:
        rng = random.Random(1)
        for name in self.models:
            for _ in range(3):
                status, body = call(self.http_port, "POST", f"/v2/models/{name}/infer", self.infer_body(rng), 60)
                if status != 200:
                    self.fail(f"warm-up of {name}: HTTP {status}: {body[:300]!r}")
                    return
            output = json.loads(body)["outputs"][0]
            rows = [tuple(output["data"][i:i + CLASSES]) for i in range(0, len(output["data"]), CLASSES)]
            if len(set(rows)) < len(rows):  # different random inputs must give different outputs
                self.fail(f"warm-up of {name}: equal outputs for different inputs (inputs misread?)")
            self.step(f"warm-up of {name} done, output shape {output['shape']}, first {rows[0][:3]}")

    def load(self, seconds: float, threads_per_model: int, on_mid: Any) -> None:
        stop = threading.Event()
        counts: dict[str, dict[str, int]] = {name: {"ok": 0, "error": 0} for name in self.models}
        lock = threading.Lock()
        max_requests = self.args.max_requests

        def worker(name: str, seed: int) -> None:
            rng = random.Random(seed)
            bodies = [self.infer_body(rng) for _ in range(4)]
            conn = http.client.HTTPConnection(LOOPBACK, self.http_port, timeout=60)
            i = 0
            while not stop.is_set():
                with lock:
                    if sum(c["ok"] + c["error"] for c in counts.values()) >= max_requests:
                        return
                try:
                    conn.request("POST", f"/v2/models/{name}/infer", body=bodies[i % 4],
                                 headers={"Content-Type": "application/json"})
                    answer = conn.getresponse()
                    answer.read()
                    ok = answer.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection(LOOPBACK, self.http_port, timeout=60)
                    time.sleep(0.1)
                with lock:
                    counts[name]["ok" if ok else "error"] += 1
                i += 1
            conn.close()

        workers = [threading.Thread(target=worker, args=(name, 100 * m + t), daemon=True)
                   for m, name in enumerate(self.models) for t in range(threads_per_model)]
        started = time.monotonic()
        self.step(f"load: {len(workers)} threads ({threads_per_model} per model), {seconds} s, "
                  f"at most {max_requests} requests, {REQUEST_BATCH} samples each")
        for w in workers:
            w.start()
        samples = []
        mid_done = False
        while time.monotonic() - started < seconds and any(w.is_alive() for w in workers):
            time.sleep(1.0)
            elapsed = time.monotonic() - started
            util = self.gpu_util()
            samples.append({"t_s": round(elapsed, 1), "nv_gpu_utilization": util})
            if not mid_done and elapsed >= seconds * self.args.mid_fraction:
                on_mid()
                mid_done = True
        stop.set()
        for w in workers:
            w.join(timeout=70)
        duration = time.monotonic() - started
        self.record["load"] = {"seconds": round(duration, 1), "threads_per_model": threads_per_model,
                               "samples_per_request": REQUEST_BATCH, "requests": counts,
                               "requests_per_s": round(sum(c["ok"] for c in counts.values()) / duration, 1),
                               "nv_gpu_utilization_each_second (parsed by the script)": samples}
        if any(c["error"] for c in counts.values()):
            self.fail(f"failed inference requests during the load: {counts}")
        self.step(f"load done: {counts} in {duration:.1f} s, nv_gpu_utilization each second: "
                  f"{[s['nv_gpu_utilization'] for s in samples]}")
        if not mid_done:
            self.fail("the load ended before the mid-load scrape")

    def gpu_util(self) -> list[float]:
        with contextlib.suppress(OSError):
            status, body = call(self.metrics_port, "GET", "/metrics", timeout=5)
            if status == 200:
                return [float(m) for m in re.findall(rb"^nv_gpu_utilization\{[^}]*\} (\S+)$", body, re.M)]
        return []

    # --- recordings -------------------------------------------------------------------------------
    def scrape(self, name: str, what: str) -> None:
        try:
            status, body = call(self.metrics_port, "GET", "/metrics", timeout=10)
        except OSError as exc:
            self.fail(f"scrape for {name}: {exc}")
            return
        if status != 200:
            self.fail(f"scrape for {name}: HTTP {status}")
        self.save(name, body, f"GET http://{LOOPBACK}:<metrics-port>/metrics ({what}), HTTP {status}")
        if b"nv_gpu_utilization" not in body and self.gpu:
            self.fail(f"{name}: no nv_gpu_utilization in Triton's /metrics")
        # Triton core >= 2.3x builds per-model labels without gpu_uuid (the code is commented out in
        # metric_model_reporter.cc): recorded as a fact, not a failure
        per_model = re.search(rb'^nv_inference_count\{[^}]*gpu_uuid="', body, re.M) is not None
        self.record.setdefault("per_model_series_with_gpu_uuid", {})[name] = per_model

    def api(self, name: str, method: str, path: str, body: bytes | None = None) -> None:
        try:
            status, answer = call(self.http_port, method, path, body)
        except OSError as exc:
            self.fail(f"{method} {path}: {exc}")
            return
        if status != 200:
            self.fail(f"{method} {path}: HTTP {status}")
        if name:
            self.save(name, answer, f"{method} {path}" + (f" body {body!r}" if body is not None else "")
                      + f", HTTP {status}")
        self.record.setdefault("http_status", {})[f"{method} {path}"] = status

    def smi_query(self, name: str, cmd: list[str], what: str) -> None:
        rc, out, err = run_tool(cmd)
        if rc != 0:
            self.fail(f"{' '.join(cmd)}: rc={rc} {err.decode(errors='replace')[:300]}")
            return
        self.save(name, out, f"{' '.join(cmd)} ({what})")

    def run(self) -> int:
        self.machine()
        cmd, env = self.prepare()
        try:
            if not self.start(cmd, env):
                return 2
            self.api("server_metadata.json", "GET", "/v2")
            self.api("", "GET", "/v2/health/live")
            self.api("", "GET", "/v2/health/ready")
            self.warm_up()
            time.sleep(self.args.settle)  # let the 1 s GPU metrics interval see the GPU idle
            self.scrape("metrics_idle.prom", "idle: ready and warmed up, before the load")

            def mid() -> None:
                self.scrape("metrics_load.prom", "during the load")
                if self.gpu:
                    self.smi_query("nvidia_smi_q_load.txt", ["nvidia-smi", "-q"], "during the load")
                    self.smi_query("nvidia_smi_load.csv", [
                        "nvidia-smi", "--query-gpu=uuid,index,utilization.gpu,memory.used,power.draw,"
                        "clocks.sm,driver_version", "--format=csv"], "during the load")

            self.load(self.args.load_seconds, self.args.threads, mid)
            time.sleep(self.args.settle)
            self.scrape("metrics_after.prom", f"{self.args.settle} s after the load")
            self.api("repository_index.json", "POST", "/v2/repository/index", b"")
            for name in self.models:
                self.api(f"config_{name}.json", "GET", f"/v2/models/{name}/versions/1/config")
                self.api("", "GET", f"/v2/models/{name}/versions/1/ready")
            self.api("model_stats.json", "GET", "/v2/models/stats")
        finally:
            self.stop()
            self.record["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            (self.out / "record.json").write_text(json.dumps(self.record, indent=1) + "\n")
            shutil.rmtree(self.work, ignore_errors=True)
        log(f"done: {len(self.record['files'])} files in {self.out}, failures: {self.record['failures']}")
        return 1 if self.record["failures"] else 0


def gpu_folder_name(csv: bytes) -> str:
    """``triton_gpu_H200`` from nvidia-smi's CSV (first GPU): the folder the recording is kept in."""
    rows = csv.decode().strip().splitlines()
    name = rows[1].split(",")[1].strip() if len(rows) > 1 else "cpu"
    name = name.removeprefix("NVIDIA ").strip()
    return "triton_gpu_" + re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pytriton", required=True, help="the nvidia-pytriton wheel, unpacked")
    parser.add_argument("--out", required=True, help="folder for the recordings")
    parser.add_argument("--load-seconds", type=float, default=75)
    parser.add_argument("--threads", type=int, default=6, help="load threads per model")
    parser.add_argument("--max-requests", type=int, default=200_000, help="bound on the load's requests")
    parser.add_argument("--mid-fraction", type=float, default=0.6, help="when in the load to scrape")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds before the idle and after-load scrapes")
    parser.add_argument("--startup-timeout", type=float, default=180)
    parser.add_argument("--cpu", action="store_true", help="KIND_CPU even when a GPU is there")
    args = parser.parse_args(argv)

    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    return Recorder(args).run()


if __name__ == "__main__":
    sys.exit(main())
