"""The one `triton-slo` command: a thin dispatcher over subcommand modules.

Each subcommand lives in its own module exposing ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``; modules are imported lazily so `triton-slo validate` never pays for
matplotlib or tritonclient.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from triton_slo import __version__
from triton_slo.errors import EXIT_BAD_INPUT, CheckFailed, UserError
from triton_slo.readers import SpecError

# The extra that brings what a command needs beyond a bare install (validate and generate need none).
EXTRAS = {"export": "export", "status": "", "canary": "canary", "runbook": "", "snapshot": "snapshot"}

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("triton_slo.commands.validate", "check SLO specs and report every problem as FILE:LINE:COL"),
    "generate": ("triton_slo.commands.generate", "write rules, rule tests, alertmanager.yaml, dashboards, runbooks"),
    "export": ("triton_slo.exporters.cli", "run the Prometheus exporter for Triton and dcgm-exporter"),
    "status": ("triton_slo.commands.status", "error budgets and burn rates of each SLO, from Prometheus"),
    "canary": ("triton_slo.canary.cli", "judge a canary against its baseline (online, or offline with `judge`)"),
    "runbook": ("triton_slo.runbooks.cli", "print the runbook of an alert"),
    "snapshot": ("triton_slo.dashboards.snapshot", "render the on-call dashboard to PNG or HTML from Prometheus"),
}

EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug of ours, not bad input


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit 2 (its default code too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (the others stay one help line each)."""
    parser = _Parser(prog="triton-slo", description="SLO operations for models served on NVIDIA Triton.")
    parser.add_argument("--version", action="version", version=f"triton-slo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module_name, summary) in SUBCOMMANDS.items():
        if name != command:
            sub.add_parser(name, help=summary)
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] == "triton_slo":
                raise
            extra = EXTRAS.get(name) or "all"
            parser.exit(2, f"triton-slo {name}: needs {exc.name}, which a bare install leaves out: "
                           f"pip install 'triton-slo[{extra}]'\n")
        parser_of_command = sub.add_parser(name, help=summary, description=module.HELP)
        module.add_arguments(parser_of_command)
        parser_of_command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (UserError, CheckFailed) as exc:
        print(f"triton-slo {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except SpecError as exc:  # a spec a command read without reporting it itself: FILE:LINE:COL per problem
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except RecursionError:  # only input can nest that deep (a JSON or YAML file, an API answer)
        print(f"triton-slo {args.command}: the input is nested too deeply to read", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a file or folder of the user's the command could not read or write
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"triton-slo {args.command}: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
        if os.environ.get("TRITON_SLO_DEBUG"):
            raise
        print(
            f"triton-slo {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set TRITON_SLO_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
