"""Generator: the runbooks of every alert the other generators wrote, into ``OUT/runbooks/``.

Runs after the rule generators and reads what they actually wrote (``OUT/rules/*.yaml``, plain or
PrometheusRule), so the folder holds exactly the runbooks the generated alerts link to, plus the
incident checklist and a static ``index.html`` with one section per alert (anchor: the alert
name in lower case, as ``runbook_url`` with a ``...#`` base expects).
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import yaml

import runbooks
from runbooks.render import to_html
from slo.generate import Options, Result
from slo.model import Spec

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
pre { background: #f4f4f4; padding: .75rem; overflow-x: auto; }
code { font-family: ui-monospace, monospace; font-size: .9em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; }
section { border-top: 2px solid #333; margin-top: 3rem; }
nav li { margin: .1rem 0; }
"""


def alert_names(rules_dir: Path) -> set[str]:
    """Alert names in every rule file of a folder (plain rule files or PrometheusRule objects)."""
    names: set[str] = set()
    for path in sorted(rules_dir.glob("*.yaml")):
        document = yaml.safe_load(path.read_text()) or {}
        groups = document.get("groups") or (document.get("spec") or {}).get("groups") or []
        names.update(rule["alert"] for group in groups for rule in group.get("rules", []) if "alert" in rule)
    return names


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


def generate(specs: list[Spec], out: Path, options: Options) -> Result:
    result = Result()
    folder = out / "runbooks"
    folder.mkdir(parents=True, exist_ok=True)
    names = alert_names(out / "rules")
    available = runbooks.load_all()
    missing = sorted(n for n in names if n not in available)
    for name in missing:
        result.warnings.append(f"alert {name} has no runbook in the runbooks package")
    chosen = [available[runbooks.CHECKLIST]] + [available[n] for n in sorted(names) if n in available]
    for book in chosen:
        target = folder / book.path.name
        shutil.copyfile(book.path, target)
        result.files.append(target)
    index = folder / "index.html"
    index.write_text(index_html(chosen), encoding="utf-8")
    result.files.append(index)
    result.notes.append(f"runbooks: {len(chosen) - 1} alert runbooks and the incident checklist in {folder}/ "
                        f"(open {index.name}); runbook_url of each alert uses the spec's service.runbook_base_url")
    return result
