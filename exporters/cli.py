"""`triton-slo export`: the Prometheus exporter for Triton, its models and their GPUs."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from triton_slo.errors import UserError
from triton_slo.exporters.config import LOG_FORMATS, LOG_LEVELS, build, log, redact, setup_logging
from triton_slo.exporters.exporter import Exporter
from triton_slo.exporters.server import MetricsServer, load_web_config

HELP = "Run the Prometheus exporter: Triton /metrics and API, dcgm-exporter, inference probes."
SHUTDOWN_GRACE_S = 1.0  # after SIGTERM: what in-flight work gets before the process exits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "--triton is Triton's HTTP endpoint (e.g. http://127.0.0.1:8000); its metrics are read from the\n"
        "same host at port + 2, path /metrics (Triton's 8000/8002 layout) unless --triton-metrics says\n"
        "otherwise; a --triton URL without a port (https://triton.example: the scheme's default port)\n"
        "reads metrics from the same host, port 8002. --dcgm is dcgm-exporter's metrics URL (a URL\n"
        "without a path gets /metrics).\n"
        "Endpoints: /metrics (scrapes the upstreams; HEAD answers without scraping), /-/healthy and\n"
        "/-/ready (for Kubernetes probes: no upstream fetch, no basic auth).\n"
        "A --config YAML file can say all of this and more (see exporters/README.md); flags win."
    )
    parser.add_argument("--triton", metavar="URL", help="Triton HTTP endpoint, e.g. http://127.0.0.1:8000")
    parser.add_argument("--triton-metrics", metavar="URL",
                        help="Triton metrics URL (default: the --triton host, port + 2 (8002 when --triton "
                             "has no port), /metrics)")
    parser.add_argument("--dcgm", metavar="URL", help="dcgm-exporter metrics URL, e.g. http://127.0.0.1:9400")
    parser.add_argument("--listen", "--web.listen-address", dest="listen", metavar="HOST:PORT",
                        help="address to serve /metrics on, e.g. 0.0.0.0:9874")
    parser.add_argument("--config", metavar="FILE", help="exporter config file (YAML)")
    parser.add_argument("--web-config", "--web.config.file", dest="web_config", metavar="FILE",
                        help="TLS and basic auth, in the web-config format Prometheus exporters share")
    parser.add_argument("--timeout", metavar="DURATION",
                        help="per-upstream deadline, above zero (default 4s; capped below Prometheus' scrape "
                             "timeout)")
    parser.add_argument("--triton-token-file", metavar="FILE", help="file holding Triton's access token")
    parser.add_argument("--triton-token-env", metavar="NAME", help="environment variable holding the token")
    parser.add_argument("--golden", metavar="FILE", help="labelled golden set (.npz with inputs, labels)")
    parser.add_argument("--no-passthrough", action="store_true",
                        help="do not pass nv_* and DCGM_FI_* through (Prometheus scrapes them itself)")
    parser.add_argument("--no-probes", action="store_true", help="send no inference probes")
    parser.add_argument("--log.level", dest="log_level", choices=tuple(LOG_LEVELS), default="info",
                        help="log lines at this level and above, on stderr (default info)")
    parser.add_argument("--log.format", dest="log_format", choices=LOG_FORMATS, default="logfmt",
                        help="log line format (default logfmt)")


def _one_line_thread_errors(args: threading.ExceptHookArgs) -> None:
    """A thread that dies of a bug says so in one log line, not a traceback."""
    if args.exc_type is SystemExit:
        return
    log(logging.ERROR, f"thread {args.thread.name if args.thread else '?'}: {args.exc_type.__name__}: "
                       f"{args.exc_value}")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except UserError as exc:  # a message may quote what an upstream or a file said: redacted
        raise UserError(redact(str(exc))) from None


def _run(args: argparse.Namespace) -> int:
    config = build(args)
    web = load_web_config(config.web_config_file)
    # from here on the process is the exporter: its log lines, its thread errors (a bad flag above
    # is one line of the CLI's, and leaves the logging of a process that calls main() alone)
    setup_logging(getattr(args, "log_level", "info") or "info", getattr(args, "log_format", "logfmt") or "logfmt")
    threading.excepthook = _one_line_thread_errors
    exporter = Exporter(config)
    server = MetricsServer(exporter, config.listen_host, config.listen_port, web)
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    exporter.start()
    log(logging.INFO, f"serving {server.url} (triton {config.triton_url}, metrics "
                      f"{config.triton_metrics_url if config.triton_passthrough else 'not passed through'}, dcgm "
                      f"{config.dcgm_url or 'none'}, probes {'on' if exporter.prober else 'off'})")
    while not stop.wait(1.0):
        pass
    log(logging.INFO, "stopping (signal received)")
    _shutdown(server, exporter)
    return 0


def _shutdown(server: MetricsServer, exporter: Exporter) -> None:
    """Stop within SHUTDOWN_GRACE_S and a bit, whatever is in flight.

    The listening socket closes first; scrapes and probes in flight get the grace, then the process
    ends: a worker thread waiting on an upstream that hangs would otherwise be joined at interpreter
    exit (concurrent.futures joins its workers), for as long as the upstream's deadline.
    """
    def close() -> None:
        server.stop(timeout=SHUTDOWN_GRACE_S / 2)
        exporter.close()

    closer = threading.Thread(target=close, name="shutdown", daemon=True)
    closer.start()
    closer.join(SHUTDOWN_GRACE_S)
    log(logging.INFO, "stopped")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
