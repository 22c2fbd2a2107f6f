"""`triton-slo validate FILE...`: check SLO specs and report every problem as FILE:LINE:COL."""

from __future__ import annotations

import argparse
import json
import sys

from triton_slo.model import SLO, LatencySLI, RatioSLI, Spec, TimesliceSLI
from triton_slo.readers import SpecError, load_spec

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


def describe_slo(spec: Spec, slo: SLO) -> str:
    """One line per SLO for `validate`."""
    sli = slo.sli
    if isinstance(sli, LatencySLI):
        what = f"latency under {sli.threshold_seconds * 1000:g} ms"
        what += f" ({sli.metric} histogram)" if sli.source == "histogram" else f" (P{sli.quantile * 100:g} slices)"
    elif isinstance(sli, TimesliceSLI):
        what = f"timeslice {sli.op} {sli.threshold:g}"
    elif isinstance(sli, RatioSLI) and sli.precomputed:
        what = "ratio (precomputed error ratio)"
    else:
        what = sli.kind
    models = ", ".join(m.name + (f"@{'|'.join(m.versions)}" if m.versions else "") for m in spec.models_of(slo))
    scope = f" for {models}" if models and sli.kind in ("availability", "latency", "accuracy") else ""
    return f"{spec.service.name}/{slo.name}: {what}, objective {slo.objective}% over {slo.window.text}{scope}"
