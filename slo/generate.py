"""Runs every generator behind `triton-slo generate` and keeps the output layout in one place."""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triton_slo.model import Spec

# (what it makes, module exposing generate(specs, out, options) -> Result), in dependency order.
GENERATORS: tuple[tuple[str, str], ...] = (
    ("SLO rules", "triton_slo.rules"),
    ("SLO rule tests", "triton_slo.rule_tests"),
    ("canary rules", "triton_slo.canary.rules"),
    ("operational alerts and Alertmanager", "triton_slo.alerts.generate"),
    ("dashboards", "triton_slo.dashboards.generate"),
    ("runbooks", "triton_slo.runbooks.generate"),
    ("Kubernetes objects", "triton_slo.kubernetes"),  # last: it wraps the files the others wrote
)


@dataclass(frozen=True)
class Options:
    target: str = "files"  # "files" or "kubernetes"
    evaluation_interval: str = "30s"
    # --target kubernetes only
    namespace: str = "monitoring"
    exporter_image: str = ""
    triton_url: str = ""
    dcgm_url: str = ""
    object_labels: tuple[tuple[str, str], ...] = ()


@dataclass
class Result:
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts to report (detection times, ...)
    warnings: list[str] = field(default_factory=list)  # problems the user should look at


def layout(out: Path) -> dict[str, Path]:
    """The output folders every generator writes into."""
    return {
        "rules": out / "rules",
        "tests": out / "tests",
        "dashboards": out / "dashboards",
        "runbooks": out / "runbooks",
    }


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Generators build millions of small acyclic objects (rules, tests, dashboards, YAML nodes) that
    live until their file is written; the cycle collector would walk them again and again, which
    costs about as much as the work itself for thousands of SLOs. Reference counting still frees
    them; the collector runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_generators(specs: list[Spec], out: Path, options: Options) -> tuple[Result, list[str]]:
    """Run every available generator; returns the merged result and what was skipped (and why)."""
    with _without_cyclic_gc():
        return _run(specs, out, options)


# The SLO rule tests cost more than all the other generators together on large specs: from this
# many SLOs on, they run in a forked child process beside the others (Linux, where fork is cheap).
BACKGROUND = frozenset({"triton_slo.rule_tests"})
BACKGROUND_MIN_SLOS = 200


def _run(specs: list[Spec], out: Path, options: Options) -> tuple[Result, list[str]]:
    for folder in layout(out).values():
        folder.mkdir(parents=True, exist_ok=True)
    modules, skipped = {}, []
    for what, module_name in GENERATORS:
        try:
            modules[module_name] = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                skipped.append(f"{what}: not available in this version ({module_name})")
                continue
            raise
    background = {name: Background(modules[name].generate, specs, out, options)
                  for name in modules if name in BACKGROUND and fork_pays(specs)}
    results: dict[str, Result] = {}
    try:
        for _, module_name in GENERATORS:
            if module_name in modules and module_name not in background:
                if module_name == GENERATORS[-1][1]:  # the last wraps what the others wrote
                    results.update((name, job.result()) for name, job in background.items())
                results[module_name] = modules[module_name].generate(specs, out, options)
        results.update((name, job.result()) for name, job in background.items() if name not in results)
    finally:
        for job in background.values():
            job.stop()
    merged = Result()
    for _, module_name in GENERATORS:  # in generator order, whichever process made it
        if module_name in results:
            merged.files.extend(results[module_name].files)
            merged.notes.extend(results[module_name].notes)
            merged.warnings.extend(results[module_name].warnings)
    return merged, skipped


def fork_pays(specs: list[Spec]) -> bool:
    """Whether work on these specs is worth a forked process (large, and on Linux)."""
    return sys.platform.startswith("linux") and sum(len(spec.slos) for spec in specs) >= BACKGROUND_MIN_SLOS


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
