"""Shared pytest fixtures for the real stack (session-scoped and lazy: nothing starts unless asked)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared next to the repository (real recordings and schemas), or skip."""
    if not (SHARED_DIR / "fixtures").is_dir():
        pytest.skip(f"real recordings not found: {SHARED_DIR / 'fixtures'} is absent")
    return SHARED_DIR


@pytest.fixture(scope="session")
def webhook() -> Iterator:
    """A WebhookReceiver for Alertmanager notifications, shared by the session (call .clear())."""
    from slo.stack.webhook import WebhookReceiver

    with WebhookReceiver() as hook:
        yield hook
