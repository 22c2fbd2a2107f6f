"""Shared pytest fixtures for the real stack.

Session-scoped and lazy: nothing starts unless a test asks for it, and then once per session
(one Triton for the whole run). The factories are function-scoped because Prometheus and
Alertmanager start in a fraction of a second and each test wants its own configuration; what
they start is stopped when the test ends, also when it fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared next to the repository (real recordings and schemas), or skip."""
    if not (SHARED_DIR / "fixtures").is_dir():
        pytest.skip(f"real recordings not found: {SHARED_DIR / 'fixtures'} is absent")
    return SHARED_DIR


@pytest.fixture(scope="session")
def webhook() -> Iterator[Any]:
    """A WebhookReceiver for Alertmanager notifications, shared by the session (``.clear()`` it)."""
    from harness.stack.webhook import WebhookReceiver

    with WebhookReceiver() as hook:
        yield hook


@pytest.fixture(scope="session")
def replay() -> Iterator[Any]:
    """A ReplayServer with no routes yet: ``replay.set("/my-test/metrics", file)``; use paths of your own."""
    from harness.stack.replay import ReplayServer

    with ReplayServer() as server:
        yield server


@pytest.fixture(scope="session")
def triton() -> Iterator[Any]:
    """The session's TritonServer with all three models. Switch faults off again (or use ``triton_faults``)."""
    from harness.stack.triton import TritonServer

    with TritonServer() as server:
        yield server


@pytest.fixture
def triton_faults(triton: Any) -> Iterator[Any]:
    """The session's TritonServer; every fault is switched off again when the test ends."""
    triton.clear_faults()
    yield triton
    if triton.running():
        triton.clear_faults()


@pytest.fixture(scope="session")
def golden_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The held-out golden set as .npz (``inputs`` float32 (N,1,8,8), ``labels`` int64 (N))."""
    from harness.stack.models import write_golden_set

    return write_golden_set(tmp_path_factory.mktemp("golden") / "golden.npz")


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``prometheus_factory(scrape_targets, rule_files=[...], alertmanager_url=...)`` -> a started Prometheus."""
    from harness.stack.prometheus import Prometheus

    started: list[Any] = []

    def start(scrape_targets: Any = (), **kwargs: Any) -> Any:
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        prometheus = Prometheus(scrape_targets, workdir=workdir, **kwargs)
        started.append(prometheus)
        return prometheus.start()

    yield start
    for prometheus in reversed(started):
        prometheus.close()


@pytest.fixture
def alertmanager_factory(tmp_path: Path, webhook: Any) -> Iterator[Callable[..., Any]]:
    """``alertmanager_factory(config=None)`` -> a started Alertmanager (default: everything to ``webhook``)."""
    from harness.stack.alertmanager import Alertmanager, webhook_config

    started: list[Any] = []

    def start(config: str | Path | None = None, **kwargs: Any) -> Any:
        workdir = tmp_path / f"alertmanager-{len(started)}"
        workdir.mkdir()
        alertmanager = Alertmanager(config or webhook_config(webhook.url), workdir=workdir, **kwargs)
        started.append(alertmanager)
        return alertmanager.start()

    yield start
    for alertmanager in reversed(started):
        alertmanager.close()
