"""Work in a forked child process beside the parent's (Linux, where fork is cheap).

`generate` builds the promtool tests of large specs in two processes beside the other builders.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from typing import Any

# The SLO rule tests cost more than all the other builders together on large specs: from this
# many SLOs on, they run in a forked child process beside the others.
BACKGROUND_MIN_SLOS = 200


def fork_pays(slo_count: int) -> bool:
    """Whether work on this many SLOs is worth a forked process (large, and on Linux)."""
    return sys.platform.startswith("linux") and slo_count >= BACKGROUND_MIN_SLOS


class Background:
    """``fn(*args)`` run in a forked child; its value (or its exception) comes back through a pipe."""

    def __init__(self, fn: Callable[..., object], *args: object) -> None:
        context = multiprocessing.get_context("fork")
        self.receiver, sender = context.Pipe(duplex=False)
        self.process = context.Process(target=_child, args=(fn, args, sender))  # not daemonic: it may fork too
        self.process.start()
        sender.close()
        self.name = getattr(fn, "__module__", "") + "." + getattr(fn, "__name__", "work")
        self._done, self._value = False, None

    def result(self) -> Any:
        if not self._done:
            try:
                status, payload = self.receiver.recv()
            except EOFError:
                self.process.join()
                raise RuntimeError(f"{self.name}: its process ended without a result "
                                   f"(exit code {self.process.exitcode})") from None
            self.process.join()
            if status == "error":
                raise payload
            self._done, self._value = True, payload
        return self._value

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.receiver.close()


def _child(fn: Callable[..., object], args: tuple, sender: Any) -> None:
    try:
        sender.send(("ok", fn(*args)))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        try:
            sender.send(("error", exc))
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its text at least
            sender.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        sender.close()
