"""`triton-slo status SPEC --prometheus URL`: SLI, budget left, burn rates and alerts, per SLO."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from triton_slo.durations import flag_duration
from triton_slo.errors import UserError
from triton_slo.promapi import PromAPI, add_prometheus_arguments
from triton_slo.readers import SpecError, load_spec
from triton_slo.status import as_json, as_table, spec_status

MAX_EVALUATION_INTERVAL = 86400

HELP = "show each SLO's SLI, error budget left, burn rates and the alerts that would fire now"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="spec file")
    add_prometheus_arguments(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    parser.add_argument("--time", metavar="TIME", help="evaluate at this time (RFC 3339 or Unix seconds; default now)")
    parser.add_argument("--evaluation-interval", default="30s", metavar="DURATION",
                        help="resolution of time-slice SLIs (default 30s)")


LATEST_TIME = 253402300799.0  # 9999-12-31T23:59:59Z, the last second a calendar window can be placed in


def _time(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError, OSError):
            raise UserError(f"--time {text!r}: expected RFC 3339 (2024-05-01T12:00:00Z) or Unix seconds") from None
    if not 0 <= seconds <= LATEST_TIME:
        raise UserError(f"--time {text!r}: expected a time between 1970 and 9999")
    return seconds


def run(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    seconds = flag_duration(args.evaluation_interval, "--evaluation-interval", positive=False)
    if not 0 < seconds <= MAX_EVALUATION_INTERVAL:
        raise UserError(f"--evaluation-interval {args.evaluation_interval!r}: expected more than 0s, at most 1d")
    at = _time(args.time)
    api = PromAPI.from_args(args)
    statuses = spec_status(api, spec, at, max(1, int(seconds)))
    if args.format == "json":
        print(json.dumps(as_json(spec, statuses), indent=2))
    else:
        print(as_table(spec, statuses))
    exhausted = [s.slo.name for s in statuses if s.exhausted]
    if exhausted:
        print(f"error budget exhausted: {', '.join(exhausted)}", file=sys.stderr)
        return 1
    return 0
