"""Runbooks, one Markdown file per alert, and how alerts link to them."""

from __future__ import annotations

from pathlib import Path

RUNBOOK_DIR = Path(__file__).resolve().parent


def runbook_anchor(alertname: str) -> str:
    """The stable anchor and file stem of an alert's runbook: its name in lower case."""
    return alertname.lower()


def runbook_url(runbook_base_url: str, alertname: str) -> str:
    """The `runbook_url` annotation for an alert.

    A base with ``{alert}`` is a template (``https://wiki/x#{alert}``); a base ending in ``#`` takes
    the anchor; otherwise the runbook is ``<base>/<alertname lower case>.md`` (a Git host or the
    ``OUT/runbooks/`` folder).
    """
    anchor = runbook_anchor(alertname)
    if "{alert}" in runbook_base_url:
        return runbook_base_url.replace("{alert}", anchor)
    if runbook_base_url.endswith("#"):
        return runbook_base_url + anchor
    return f"{runbook_base_url.rstrip('/')}/{anchor}.md"
