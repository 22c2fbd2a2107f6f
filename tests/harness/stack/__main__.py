"""``python -m harness.stack``: start the real stack, drive load, print a summary, stop everything."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from harness.stack.models import MODEL_NAMES


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.stack",
        description="Start Triton (residual models), Prometheus and Alertmanager on loopback, "
        "drive load, print a summary and stop.",
    )
    parser.add_argument("--duration", type=_positive(float), default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--rate", type=_positive(float), default=10.0, help="requests/s per model (default 10)")
    parser.add_argument("--batch-size", type=_positive(int), default=8, help="samples per request (default 8)")
    parser.add_argument(
        "--models", default=",".join(MODEL_NAMES), help=f"comma-separated subset of {', '.join(MODEL_NAMES)}"
    )
    return parser


def _p99_ms(prometheus, model: str) -> str:  # noqa: ANN001 - harness.stack.prometheus.Prometheus
    result = prometheus.query(f'nv_inference_request_summary_us{{model="{model}",quantile="0.99"}}')
    values = [float(r["value"][1]) for r in result]
    return f"{max(values) / 1000:.1f}" if values and values[0] == values[0] else "n/a"


def _served(prometheus, model: str) -> str:  # noqa: ANN001
    result = prometheus.query(f'sum(nv_inference_request_success{{model="{model}"}})')
    return f"{float(result[0]['value'][1]):.0f}" if result else "0"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown or not models:
        print(f"python -m harness.stack: error: --models: unknown {unknown or 'empty'} "
              f"(known: {', '.join(MODEL_NAMES)})", file=sys.stderr)
        return 2

    from harness.stack.compose import Stack
    from harness.stack.load import LoadGenerator
    from harness.stack.process import StackError

    try:
        with Stack(models=models) as stack:
            triton, prometheus = stack.triton, stack.prometheus
            print(f"Triton      http {triton.http_url}  grpc {triton.grpc_address}  metrics {triton.metrics_url}")
            print(f"Prometheus  {prometheus.url}")
            print(f"Alertmanager {stack.alertmanager.url}  (webhook {stack.webhook.url})")
            print("start-up: " + ", ".join(f"{k} {v:.1f} s" for k, v in stack.startup_seconds.items()))
            status = triton.worker_status()["models"]
            print(f"driving {args.rate:g} req/s x batch {args.batch_size} per model for {args.duration:g} s ...")
            loads = [
                LoadGenerator(triton.http_url, m, args.rate, int(args.batch_size), args.duration).start()
                for m in models
            ]
            for load in loads:
                load.wait()
            time.sleep(2.5)  # let Prometheus scrape the last counters
            print(f"{'model':<16} {'golden acc':>10} {'served (Prom)':>13} {'failed':>6} "
                  f"{'P99 ms (Prom)':>13} {'P99 ms (client)':>15}")
            for model, load in zip(models, loads, strict=True):
                client_p99 = load.stats.quantile(0.99)
                print(
                    f"{model:<16} {status[model]['golden_accuracy']:>10.3f} {_served(prometheus, model):>13} "
                    f"{load.stats.failed:>6} {_p99_ms(prometheus, model):>13} "
                    f"{(client_p99 or float('nan')) * 1000:>15.1f}"
                )
            print("stopping ...")
    except StackError as exc:
        print(f"python -m harness.stack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
