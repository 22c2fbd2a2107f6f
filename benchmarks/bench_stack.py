"""Start-up time of the real stack and per-model throughput through Triton on this machine.

    .venv/bin/python benchmarks/bench_stack.py [--seconds 5] [--batch-sizes 1,8] [--threads 2]

Throughput is measured closed-loop (``threads`` clients sending as fast as answers come back,
via harness.stack.load.LoadGenerator over HTTP) and printed as a ratio against the reference: the
same network called directly in this process with PyTorch, same batch size, one thread. The
ratio is what serving through Triton (HTTP, dynamic batcher, Python backend, PyTriton proxy)
keeps of the bare model's speed. CPU-only numbers; the machine may be shared, so run it twice.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def direct_throughput(model_name: str, weights: Path, batch: np.ndarray, seconds: float) -> float:
    """Requests/s of the bare network in this process (the reference)."""
    import torch
    from harness.stack.models import load_digits_split, load_or_train

    torch.set_num_threads(1)
    net, _ = load_or_train(model_name, load_digits_split(), weights)
    x = torch.from_numpy(batch)
    count, began = 0, time.perf_counter()
    with torch.no_grad():
        while time.perf_counter() - began < seconds:
            net(x)
            count += 1
    return count / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated batch sizes (default 1,8)")
    parser.add_argument("--threads", type=int, default=2, help="client threads (default 2)")
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    from harness.stack.alertmanager import Alertmanager, webhook_config
    from harness.stack.load import LoadGenerator
    from harness.stack.models import MODEL_NAMES, load_digits_split
    from harness.stack.prometheus import Prometheus
    from harness.stack.triton import TritonServer

    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        workdir = Path(tmp)
        began = time.monotonic()
        with Prometheus([]):
            prometheus_s = time.monotonic() - began
        began = time.monotonic()
        with Alertmanager(webhook_config("http://127.0.0.1:9/")):
            alertmanager_s = time.monotonic() - began

        triton = TritonServer(workdir=workdir / "triton")
        triton.start()
        cold_s = triton.startup_seconds
        triton.stop()
        triton.start()
        warm_s = triton.startup_seconds
        print("start-up (s)")
        print(f"  Triton, 3 models, training included   {cold_s:6.1f}")
        print(f"  Triton, 3 models, cached weights       {warm_s:6.1f}")
        print(f"  Prometheus                             {prometheus_s:6.1f}")
        print(f"  Alertmanager                           {alertmanager_s:6.1f}")

        inputs = load_digits_split().train_x
        print(f"\nthroughput, {args.threads} client threads, {args.seconds:g} s each (requests/s)")
        print(f"  {'model':<16} {'batch':>5} {'direct':>9} {'Triton':>9} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7}")
        try:
            for model in MODEL_NAMES:
                for batch_size in batch_sizes:
                    batch = np.ascontiguousarray(inputs[:batch_size])
                    reference = direct_throughput(model, workdir / "triton" / "weights", batch, args.seconds)
                    load = LoadGenerator(
                        triton.http_url, model, rate_per_s=10_000, batch_size=batch_size,
                        duration_s=args.seconds, threads=args.threads, inputs=inputs,
                    )
                    began = time.monotonic()
                    stats = load.start().wait()
                    served = stats.succeeded / (time.monotonic() - began)
                    p50, p99 = stats.quantile(0.5) or 0.0, stats.quantile(0.99) or 0.0
                    print(f"  {model:<16} {batch_size:>5} {reference:>9.0f} {served:>9.0f} "
                          f"{served / reference:>6.2f} {p50 * 1000:>7.1f} {p99 * 1000:>7.1f}"
                          + (f"  ({stats.failed} failed)" if stats.failed else ""))
        finally:
            triton.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
