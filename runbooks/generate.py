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
from triton_slo import runbooks
from triton_slo.generate import Options, Result
from triton_slo.model import Spec
from triton_slo.rules import FILE_HEADER
from triton_slo.runbooks.render import to_html

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
pre { background: #f4f4f4; padding: .75rem; overflow-x: auto; }
code { font-family: ui-monospace, monospace; font-size: .9em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; }
section { border-top: 2px solid #333; margin-top: 3rem; }
nav li { margin: .1rem 0; }
"""


# Where an alerting rule's name sits: a plain rule file, or a PrometheusRule object.
_ALERT_PATHS = {("groups", "[]", "rules", "[]", "alert"): "groups",
                ("spec", "groups", "[]", "rules", "[]", "alert"): "spec"}


def _document_alerts(document: object) -> set[str]:
    document = document if isinstance(document, dict) else {}
    groups = document.get("groups") or (document.get("spec") or {}).get("groups") or []
    return {rule["alert"] for group in groups for rule in group.get("rules", []) if "alert" in rule}


_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"


def _is_text(event: yaml.ScalarEvent) -> bool:
    """Whether the loader would read this scalar as a string (not a number, a boolean, null, or tagged)."""
    if event.tag not in (None, "!", _STR):
        return False
    if event.tag == _STR or not event.implicit[0]:
        return True
    return _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit) == _STR


def _streamed_alerts(text: str) -> set[str] | None:
    """The alert names of a rule file read from libyaml's event stream, without building the document.

    Rule files of thousands of SLOs are megabytes: building them costs seconds, the events a tenth.
    None when the file holds what only a full load reads right (aliases, complex keys, several
    documents); the caller then loads it.
    """
    found: dict[str, set[str]] = {"groups": set(), "spec": set()}
    stack: list[list] = []  # per open collection: [is mapping, its path, key whose value comes next]
    documents = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        kind = type(event)
        if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            stack.pop()
            continue
        if kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                return None
            continue
        if kind not in (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent):
            continue
        if kind is yaml.AliasEvent or getattr(event, "anchor", None):
            return None
        path: tuple = ()
        if stack:
            top = stack[-1]
            if top[0] and top[2] is None:  # a mapping key
                if kind is not yaml.ScalarEvent:
                    return None
                top[2] = event.value
                continue
            path = (*top[1], top[2]) if top[0] else (*top[1], "[]")
            top[2] = None
        if kind is yaml.ScalarEvent:
            where = _ALERT_PATHS.get(path)
            if where:
                if not _is_text(event):
                    return None  # a tagged or non-string scalar: let the loader resolve it
                found[where].add(event.value)
        else:
            stack.append([kind is yaml.MappingStartEvent, path, None])
    return found["groups"] or found["spec"]


GENERATED = FILE_HEADER.split("{", 1)[0]
# A rule's `alert:` key in a plain rule file of our own writer (slo.rules.dump_yaml): rules are
# list items at this indent, and literal blocks there sit deeper, so no other line looks like it.
_OWN_ALERT_LINE = re.compile(r'^      - alert: ([A-Za-z_:][A-Za-z0-9_:]*|"[^"\\\n]*")$', re.MULTILINE)


def _own_file_alerts(text: str) -> set[str] | None:
    """The alert names of a plain rule file this tool wrote, by lines (a tenth of the event
    stream's time on megabytes of rules); None for any other file."""
    if not text.startswith(GENERATED) or "\ngroups:\n" not in text:
        return None
    return {value.strip('"') for value in _OWN_ALERT_LINE.findall(text)}


def alert_names(rules_dir: Path) -> set[str]:
    """Alert names in every rule file of a folder (plain rule files or PrometheusRule objects)."""
    names: set[str] = set()
    for path in sorted(rules_dir.glob("*.yaml")):
        text = path.read_text()
        own = _own_file_alerts(text)
        if own is not None:
            names.update(own)
            continue
        streamed = _streamed_alerts(text)
        names.update(streamed if streamed is not None else _document_alerts(yaml.safe_load(text)))
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
