"""`triton-slo runbook NAME`: print an alert's runbook; `--list` lists them; `--format json`."""

from __future__ import annotations

import argparse
import json

from triton_slo import runbooks
from triton_slo.errors import UserError

HELP = "print the runbook of an alert (case-insensitive), or --list every runbook"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME",
                        help="alert name, e.g. TritonSloGpuOutOfMemory (any case), or incident-checklist")
    parser.add_argument("--list", action="store_true", help="list every runbook with its severity")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")


def _entry(book: runbooks.Runbook) -> dict:
    return {"alert": book.name if book.is_alert else None, "name": book.name, "severity": book.severity,
            "summary": book.headline, "file": book.path.name}


def run(args: argparse.Namespace) -> int:
    if args.list and args.name:
        raise UserError("give an alert NAME or --list, not both")
    if args.list:
        books = list(runbooks.load_all().values())
        if args.format == "json":
            print(json.dumps([_entry(b) for b in books], indent=2))
            return 0
        width = max(len(b.name) for b in books)
        for book in books:
            print(f"{book.name:<{width}}  {book.severity or '-':<16}  {book.path.name}")
        return 0
    if not args.name:
        raise UserError("which runbook? give an alert NAME, e.g. TritonSloServerDown, or --list")
    book = runbooks.find(args.name)
    if args.format == "json":
        print(json.dumps({**_entry(book), "markdown": book.text}, indent=2))
    else:
        print(book.text, end="" if book.text.endswith("\n") else "\n")
    return 0
