"""The demo's voice: numbered steps with the elapsed time, indented detail, waits with progress.

On a terminal a wait redraws one line (a bar for a known length, a counter for a condition); in
a log or a pipe it prints nothing until the wait ends, so captured output stays readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

T = TypeVar("T")
BAR_WIDTH = 24


class Narrator:
    def __init__(self, steps: int, stream: TextIO | None = None) -> None:
        self.steps = steps
        self.stream = stream or sys.stdout
        self.began = time.monotonic()
        self.step = 0
        self.lines: list[str] = []  # everything said, for summary.txt
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def clock(self) -> str:
        seconds = int(self.elapsed())
        return f"{seconds // 60}:{seconds % 60:02d}"

    def say(self, text: str = "") -> None:
        for line in text.splitlines() or [""]:
            self.lines.append(line)
            print(line, file=self.stream, flush=True)

    def header(self, title: str) -> None:
        self.step += 1
        self.say(f"\n[{self.step}/{self.steps} {self.clock():>5}] {title}")

    def detail(self, text: str, indent: int = 6) -> None:
        pad = " " * indent
        self.say("\n".join(pad + line if line else "" for line in text.splitlines()))

    def command(self, argv: list[str]) -> None:
        self.detail("$ triton-slo " + " ".join(_quote(a) for a in argv))

    def _draw(self, text: str) -> None:
        if self.tty:
            print("\r" + text.ljust(78)[:78], end="", file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.tty:
            print("\r" + " " * 78 + "\r", end="", file=self.stream, flush=True)

    def wait(self, seconds: float, label: str, tick: Callable[[], str] | None = None) -> None:
        """Sleep ``seconds`` with a progress bar (and ``tick()``'s text, e.g. live counts)."""
        end = time.monotonic() + seconds
        try:
            while (left := end - time.monotonic()) > 0:
                done = 1 - left / seconds if seconds else 1
                filled = int(done * BAR_WIDTH)
                extra = f"  {tick()}" if tick else ""
                self._draw(f"      {label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                           f"{seconds - left:3.0f}/{seconds:.0f} s{extra}")
                time.sleep(min(1.0, left))
        finally:
            self._clear()

    def until(self, label: str, timeout: float, check: Callable[[], T | None], every: float = 1.0) -> T | None:
        """Poll ``check`` until it returns something (returned) or ``timeout`` passes (None)."""
        began = time.monotonic()
        spinner = "|/-\\"
        try:
            for turn in range(10**9):
                result = check()
                if result is not None:
                    return result
                waited = time.monotonic() - began
                if waited >= timeout:
                    return None
                self._draw(f"      {label} {spinner[turn % 4]} {waited:3.0f} s (gives up at {timeout:.0f} s)")
                time.sleep(every)
        finally:
            self._clear()
        return None


def _quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "-_./:=@,+" for c in arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    """Rows as left-aligned text columns."""
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)
