"""The real stack triton-slo is tested and demonstrated against.

Triton Inference Server (PyTriton, CPU) serving small residual networks, Prometheus, Alertmanager,
a webhook receiver for Alertmanager's notifications, a replay server for recorded /metrics output
and a load generator. Every server listens on a free loopback port, works in a temporary
directory and is stopped by its context manager (and at interpreter exit) even when a test fails.

Submodules are imported lazily so that ``from harness.stack.replay import ReplayServer`` does not pay
for torch or PyTriton.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.stack.compose import Stack

__all__ = ["Stack"]


def __getattr__(name: str) -> Any:
    if name == "Stack":
        from harness.stack.compose import Stack

        return Stack
    raise AttributeError(name)
