"""Errors that reach the user as one line and an exit code, never as a traceback."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


class UserError(Exception):
    """Bad input (a spec, a flag, an upstream payload): printed as one line, exit 2."""

    exit_code = EXIT_BAD_INPUT


class CheckFailed(Exception):
    """A check ran and found a problem: printed as one line, exit 1."""

    exit_code = EXIT_CHECK_FAILED
