"""Runbooks, one Markdown file per alert, and how alerts link to them.

Each runbook is package data: ``runbooks/<alertname lower case>.md``, whose first line is
``# <AlertName>``. ``incident-checklist.md`` is linked from every runbook. ``runbook_url`` and
``runbook_anchor`` (how an alert links to its runbook) live in ``triton_slo.links``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from triton_slo.errors import UserError
from triton_slo.links import runbook_anchor, runbook_url  # noqa: F401 - re-exported: how alerts link here

RUNBOOK_DIR = Path(__file__).resolve().parent
CHECKLIST = "incident-checklist"
SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation")


@dataclass(frozen=True)
class Runbook:
    name: str  # the alert name (CamelCase) or "incident-checklist"
    path: Path
    text: str

    @property
    def title(self) -> str:
        return self.text.splitlines()[0].lstrip("# ").strip()

    @property
    def headline(self) -> str:
        """The bold severity line under the title, as plain text ('' when there is none)."""
        lines = self.text.splitlines()[1:]
        head = []
        for line in lines:
            if not line.strip():
                if head:
                    break
                continue
            head.append(line.strip())
        return " ".join(head).replace("**", "")

    @property
    def severity(self) -> str:
        """``critical``, ``warning`` or both, from the headline."""
        head = self.headline.split("·")[0].lower()
        return "/".join(s for s in ("critical", "warning") if s in head)

    @property
    def is_alert(self) -> bool:
        return self.name != CHECKLIST


def load_all(folder: Path = RUNBOOK_DIR) -> dict[str, Runbook]:
    """Every runbook by alert name (and the checklist), read from the package."""
    books: dict[str, Runbook] = {}
    for path in sorted(folder.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0] if text else ""
        name = CHECKLIST if path.stem == CHECKLIST else first.lstrip("# ").strip()
        books[name] = Runbook(name, path, text)
    return books


def alert_runbooks(folder: Path = RUNBOOK_DIR) -> dict[str, Runbook]:
    return {name: book for name, book in load_all(folder).items() if book.is_alert}


def find(name: str, folder: Path = RUNBOOK_DIR) -> Runbook:
    """The runbook of an alert name, case-insensitively; UserError with near misses otherwise."""
    books = load_all(folder)
    wanted = name.strip().lower()
    for key, book in books.items():
        if key.lower() == wanted or book.path.stem == wanted:
            return book
    by_lower = {key.lower(): key for key in books}
    close = difflib.get_close_matches(wanted, list(by_lower), n=3, cutoff=0.6)
    if not close:  # "GpuLost" for TritonSloGpuLost: the prefix left out
        close = [k for k in by_lower if wanted and k.endswith(wanted)][:3]
    hint = f"; did you mean {' or '.join(by_lower[c] for c in close)}?" if close else ""
    raise UserError(f"no runbook for alert {name!r}{hint} (`triton-slo runbook --list` lists them)")
