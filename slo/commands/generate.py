"""`triton-slo generate SPEC... -o OUT`: rules, tests, Alertmanager config, dashboards, runbooks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from slo.errors import UserError
from slo.generate import Options, run_generators
from slo.spec import load_spec
from slo.specyaml import SpecError

HELP = "generate rules, promtool tests, alertmanager.yaml, dashboards and runbooks from SLO specs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="spec files")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created if missing)")
    parser.add_argument("--target", choices=("files", "kubernetes"), default="files",
                        help="plain files (default) or Kubernetes objects for the prometheus-operator")
    parser.add_argument("--evaluation-interval", default="30s", metavar="DURATION",
                        help="rule evaluation interval the rules are written for (default 30s)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="report format (default text)")


def run(args: argparse.Namespace) -> int:
    problems, specs = [], []
    for file in args.specs:
        try:
            specs.append(load_spec(file))
        except SpecError as exc:
            problems.append(str(exc))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    names = [spec.service.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"service {duplicates[0]!r} is defined by more than one spec; names must be unique")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UserError(f"-o {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"-o {out}: {exc.strerror or exc}") from None
    options = Options(target=args.target, evaluation_interval=args.evaluation_interval)
    result, skipped = run_generators(specs, out, options)
    if args.format == "json":
        print(json.dumps({"files": [str(f) for f in result.files], "notes": result.notes,
                          "warnings": result.warnings, "skipped": skipped}, indent=2))
        return 0
    print(f"wrote {len(result.files)} files under {out}/")
    for note in result.notes:
        print(f"  {note}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for line in skipped:
        print(f"skipped: {line}")
    return 0
