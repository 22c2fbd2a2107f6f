"""`triton-slo export`: the Prometheus exporter for Triton, its models and their GPUs."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from triton_slo.exporters.config import build
from triton_slo.exporters.exporter import Exporter
from triton_slo.exporters.server import MetricsServer, load_web_config

HELP = "Run the Prometheus exporter: Triton /metrics and API, dcgm-exporter, inference probes."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "--triton is Triton's HTTP endpoint (e.g. http://127.0.0.1:8000); its metrics are read from the\n"
        "same host at port + 2, path /metrics (Triton's 8000/8002 layout) unless --triton-metrics says\n"
        "otherwise. --dcgm is dcgm-exporter's metrics URL (a URL without a path gets /metrics).\n"
        "A --config YAML file can say all of this and more (see exporters/README.md); flags win."
    )
    parser.add_argument("--triton", metavar="URL", help="Triton HTTP endpoint, e.g. http://127.0.0.1:8000")
    parser.add_argument("--triton-metrics", metavar="URL",
                        help="Triton metrics URL (default: the --triton host, port + 2, /metrics)")
    parser.add_argument("--dcgm", metavar="URL", help="dcgm-exporter metrics URL, e.g. http://127.0.0.1:9400")
    parser.add_argument("--listen", metavar="HOST:PORT", help="address to serve /metrics on, e.g. 0.0.0.0:9874")
    parser.add_argument("--config", metavar="FILE", help="exporter config file (YAML)")
    parser.add_argument("--web-config", metavar="FILE",
                        help="TLS and basic auth, in the web-config format Prometheus exporters share")
    parser.add_argument("--timeout", metavar="DURATION",
                        help="per-upstream deadline (default 4s; capped below Prometheus' scrape timeout)")
    parser.add_argument("--triton-token-file", metavar="FILE", help="file holding Triton's access token")
    parser.add_argument("--triton-token-env", metavar="NAME", help="environment variable holding the token")
    parser.add_argument("--golden", metavar="FILE", help="labelled golden set (.npz with inputs, labels)")
    parser.add_argument("--no-passthrough", action="store_true",
                        help="do not pass nv_* and DCGM_FI_* through (Prometheus scrapes them itself)")
    parser.add_argument("--no-probes", action="store_true", help="send no inference probes")


def run(args: argparse.Namespace) -> int:
    config = build(args)
    web = load_web_config(config.web_config_file)
    exporter = Exporter(config)
    server = MetricsServer(exporter, config.listen_host, config.listen_port, web)
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    exporter.start()
    print(f"triton-slo export: serving {server.url} (triton {config.triton_url}, metrics "
          f"{config.triton_metrics_url if config.triton_passthrough else 'not passed through'}, dcgm "
          f"{config.dcgm_url or 'none'}, probes {'on' if exporter.prober else 'off'})", file=sys.stderr, flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
        exporter.close()
    return 0
