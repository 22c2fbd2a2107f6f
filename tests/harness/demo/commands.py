"""Run ``triton-slo`` commands the way a user would, through the one CLI entry point, and keep
what they printed and returned (the demo shows it and the summary records it)."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from typing import Any

from triton_slo.cli import main as cli_main


@dataclass
class CliRun:
    argv: list[str]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON (None when it is not JSON, e.g. after an error)."""
        try:
            return json.loads(self.out)
        except ValueError:
            return None

    def record(self, keep_output: bool = True) -> dict[str, Any]:
        entry: dict[str, Any] = {"command": ["triton-slo", *self.argv], "exit_code": self.code}
        if keep_output:
            entry["stdout"] = self.out
        if self.err.strip():
            entry["stderr"] = self.err
        return entry


def triton_slo(argv: list[str]) -> CliRun:
    """``triton-slo ARGV`` in this process (``slo.cli.main``), stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(list(argv))
        except SystemExit as exc:  # argparse's usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 2
    if code == 130:  # the CLI turns Ctrl-C into exit 130; the demo must stop everything it started
        raise KeyboardInterrupt
    return CliRun(list(argv), code, out.getvalue(), err.getvalue())
