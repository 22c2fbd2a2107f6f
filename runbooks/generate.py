"""Builder: the runbooks of every alert the rule builders made, for ``OUT/runbooks/``.

The pipeline hands over the alert names of every rule artifact it built, so the folder holds
exactly the runbooks the generated alerts link to, plus the incident checklist and a static
``index.html`` with one section per alert (anchor: the alert name in lower case, as
``runbook_url`` with a ``...#`` base expects).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from triton_slo import names, runbooks
from triton_slo.artifacts import Artifact, Built
from triton_slo.runbooks.render import to_html

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
pre { background: #f4f4f4; padding: .75rem; overflow-x: auto; }
code { font-family: ui-monospace, monospace; font-size: .9em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; }
section { border-top: 2px solid #333; margin-top: 3rem; }
nav li { margin: .1rem 0; }
"""


def _anchor_link(href: str) -> str:
    """Links between runbooks become anchors inside the index."""
    match = re.fullmatch(r"([a-z0-9-]+)\.md", href)
    return f"#{match.group(1)}" if match else href


def index_html(books: list[runbooks.Runbook]) -> str:
    toc = "".join(
        f'<li><a href="#{b.path.stem}">{html.escape(b.name)}</a> <small>{html.escape(b.severity)}</small></li>'
        for b in books)
    sections = "".join(
        f'<section id="{b.path.stem}">{to_html(b.text, _anchor_link, heading_ids=False)}</section>' for b in books)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>triton-slo runbooks</title><style>{STYLE}</style></head><body>"
            f"<h1>triton-slo runbooks</h1><nav><ul>{toc}</ul></nav>{sections}</body></html>\n")


def alert_names(documents: Iterable[dict]) -> set[str]:
    """The alert names in rule documents (``{"groups": [...]}``)."""
    return {rule["alert"] for document in documents for group in document.get("groups", [])
            for rule in group.get("rules", []) if "alert" in rule}


def build_runbooks(alerts: set[str]) -> Built:
    """The runbooks of ``alerts`` (and the incident checklist), and their index page."""
    result = Built()
    available = runbooks.load_all()
    for name in sorted(n for n in alerts if n not in available):
        result.warnings.append(f"alert {name} has no runbook in the runbooks package")
    chosen = [available[runbooks.CHECKLIST]] + [available[n] for n in sorted(alerts) if n in available]
    for book in chosen:
        result.artifacts.append(Artifact(f"{names.RUNBOOKS_DIR}/{book.path.name}", "runbook", book.text, "text"))
    result.artifacts.append(Artifact(f"{names.RUNBOOKS_DIR}/{names.RUNBOOK_INDEX_FILE}", "runbook",
                                     index_html(chosen), "text"))
    result.notes.append(f"runbooks: {len(chosen) - 1} alert runbooks and the incident checklist in "
                        f"OUT/{names.RUNBOOKS_DIR}/ (open {names.RUNBOOK_INDEX_FILE}); runbook_url of each alert "
                        "uses the spec's service.runbook_base_url")
    return result
