"""`triton-slo generate SPEC... -o OUT`: rules, tests, Alertmanager config, dashboards, runbooks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from triton_slo.artifacts import Options
from triton_slo.errors import UserError
from triton_slo.pipeline import generate
from triton_slo.readers import SpecError, load_spec

HELP = "generate rules, promtool tests, alertmanager.yaml, dashboards and runbooks from SLO specs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="spec files")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created if missing)")
    parser.add_argument("--target", choices=("files", "kubernetes"), default="files",
                        help="plain files (default) or Kubernetes objects for the prometheus-operator")
    parser.add_argument("--evaluation-interval", default="30s", metavar="DURATION",
                        help="rule evaluation interval the rules are written for (default 30s)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="report format (default text)")
    k8s = parser.add_argument_group("--target kubernetes")
    k8s.add_argument("--namespace", default="monitoring", help="namespace of the objects (default monitoring)")
    k8s.add_argument("--exporter-image", default="", metavar="IMAGE", help="container image of the exporter")
    k8s.add_argument("--triton-url", default="", metavar="URL",
                     help="Triton's HTTP endpoint as the exporter reaches it (default: from the spec's triton job)")
    k8s.add_argument("--dcgm-url", default="", metavar="URL",
                     help="dcgm-exporter's metrics URL as the exporter reaches it (default: from the spec's dcgm job)")
    k8s.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                     help="extra label on every object (repeatable), e.g. release=prometheus")


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UserError(f"--label {text!r}: expected KEY=VALUE")
    return key, value


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
    options = Options(
        target=args.target,
        evaluation_interval=args.evaluation_interval,
        namespace=args.namespace,
        exporter_image=args.exporter_image,
        triton_url=args.triton_url,
        dcgm_url=args.dcgm_url,
        object_labels=tuple(_label(text) for text in args.label),
    )
    result, written = generate(specs, out, options)
    if args.format == "json":
        print(json.dumps({"files": [str(f) for f in written], "notes": result.notes,
                          "warnings": result.warnings}, indent=2))
        return 0
    print(f"wrote {len(written)} files under {out}/")
    for note in result.notes:
        print(f"  {note}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
