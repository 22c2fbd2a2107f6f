"""`triton-slo validate FILE...`: check SLO specs and report every problem as FILE:LINE:COL."""

from __future__ import annotations

import argparse
import json
import sys

from triton_slo.spec import describe_slo, load_spec
from triton_slo.specyaml import SpecError

HELP = "check SLO specs (triton-slo, Sloth prometheus/v1, OpenSLO v1); problems as FILE:LINE:COL: message"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="spec files to check")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")


def run(args: argparse.Namespace) -> int:
    report = []
    failed = False
    for file in args.files:
        try:
            spec = load_spec(file)
        except SpecError as exc:
            failed = True
            report.append({"file": file, "valid": False, "problems": [
                {"line": p.mark.line, "column": p.mark.col, "message": p.message} for p in exc.problems]})
            if args.format == "text":
                print(str(exc), file=sys.stderr)
            continue
        summaries = [describe_slo(spec, slo) for slo in spec.slos]
        report.append({"file": file, "valid": True, "format": spec.source_format, "service": spec.service.name,
                       "slos": summaries})
        if args.format == "text":
            for line in summaries:
                print(f"{file}: {line}")
    if args.format == "json":
        print(json.dumps({"valid": not failed, "files": report}, indent=2))
    return 2 if failed else 0
