"""`triton-slo status SPEC --prometheus URL`: SLI, budget left, burn rates and alerts, per SLO."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from triton_slo.durations import parse_duration
from triton_slo.errors import UserError
from triton_slo.promapi import PromAPI, add_prometheus_arguments
from triton_slo.readers import SpecError, load_spec
from triton_slo.status import as_json, as_table, spec_status

HELP = "show each SLO's SLI, error budget left, burn rates and the alerts that would fire now"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="spec file")
    add_prometheus_arguments(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    parser.add_argument("--time", metavar="TIME", help="evaluate at this time (RFC 3339 or Unix seconds; default now)")
    parser.add_argument("--evaluation-interval", default="30s", metavar="DURATION",
                        help="resolution of time-slice SLIs (default 30s)")


def _time(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise UserError(f"--time {text!r}: expected RFC 3339 (2024-05-01T12:00:00Z) or Unix seconds") from None


def run(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        interval = int(parse_duration(args.evaluation_interval))
    except ValueError as exc:
        raise UserError(f"--evaluation-interval: {exc}") from None
    api = PromAPI.from_args(args)
    statuses = spec_status(api, spec, _time(args.time), max(1, interval))
    if args.format == "json":
        print(json.dumps(as_json(spec, statuses), indent=2))
    else:
        print(as_table(spec, statuses))
    exhausted = [s.slo.name for s in statuses if s.exhausted]
    if exhausted:
        print(f"error budget exhausted: {', '.join(exhausted)}", file=sys.stderr)
        return 1
    return 0
