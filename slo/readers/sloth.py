"""Sloth ``prometheus/v1`` specs onto slo.model.

Mapping (Sloth field -> triton-slo):

- ``service`` -> ``Service.name``; ``labels`` -> ``Service.labels`` (on every rule and alert);
- ``slos[].name/objective/description/labels`` -> the SLO's; the window is 30d, Sloth's default
  period (a Sloth spec has no window field);
- ``sli.events.error_query/total_query`` -> ``RatioSLI(bad=..., total=...)`` (both need ``{{.window}}``);
- ``alerting.labels/annotations`` -> the SLO's alert labels and annotations; ``alerting.name`` is
  kept as the label ``sloth_alert`` because triton-slo names its alerts by convention
  (``TritonSloCustomBudgetBurn``), so Alertmanager routes can still match it;
- ``page_alert``/``ticket_alert``: ``disable`` turns page/ticket off; their ``labels`` and
  ``annotations`` go on the page (critical) or ticket (warning) tiers only, as in Sloth. A
  ``severity`` given there stays on the alert as written (Sloth's ``pageteam``, ``slack``);
  triton-slo's Alertmanager configuration routes those values as pages or tickets;
- ``sli.raw.error_ratio_query`` -> ``RatioSLI(error_ratio=...)``, a precomputed error ratio (its
  period ratio is a time average, as in Sloth).

Not mappable, so reported as errors naming the field: ``sli.plugin`` and ``plugins`` /
``slo_plugins`` (Go code run inside Sloth), and more than one Sloth document per file (one file
is one service here). A Sloth Kubernetes object (``apiVersion: sloth.slok.dev/...``) is claimed
too, to say how to read its ``spec``.
"""

from __future__ import annotations

import re
from typing import Any

from triton_slo.model import SLO, RatioSLI, Service, SLOAlerting, Spec, Window
from triton_slo.readers.fields import (
    as_bool,
    as_label_map,
    as_nonempty_str,
    as_objective,
    as_promql,
    as_str,
    str_map,
)
from triton_slo.readers.source import Mark, Raw, Reader, SpecError, SpecProblem

FORMAT = "sloth"
SLOTH_VERSION = "prometheus/v1"
SLOTH_WINDOW = Window(seconds=30 * 86400, text="30d")
ALERT_NAME_LABEL = "sloth_alert"
# Sloth's own rule for service and SLO names.
SLOTH_NAME = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]$")
ALERTS = ("page_alert", "ticket_alert")


def accepts(documents: list[Any]) -> bool:
    """A first document with ``version: prometheus/...``, or a Sloth Kubernetes object."""
    return _is_sloth_spec(documents[0]) or _is_kubernetes_object(documents[0])


def _is_sloth_spec(doc: Any) -> bool:
    version = doc.get("version") if isinstance(doc, dict) else None
    return isinstance(version, str) and version.startswith("prometheus/")


def _is_kubernetes_object(doc: Any) -> bool:
    api_version = doc.get("apiVersion") if isinstance(doc, dict) else None
    return isinstance(api_version, str) and api_version.startswith("sloth.slok.dev/")


def read(documents: list[Any], file: str) -> Spec:
    """One Sloth ``prometheus/v1`` document -> Spec, or SpecError listing every problem."""
    first = documents[0]
    if _is_kubernetes_object(first) and not _is_sloth_spec(first):
        raise SpecError([SpecProblem(file, first.key_marks["apiVersion"], f"apiVersion: {first['apiVersion']!r} "
                                     "is Sloth's Kubernetes object; save its `spec` with `version: prometheus/v1` "
                                     "on top and it reads as is")])
    problems: list[SpecProblem] = []
    for extra in documents[1:]:
        mark = getattr(extra, "mark", Mark(1, 1))  # a document may be a bare scalar, which has no position
        problems.append(SpecProblem(file, mark, f"a file holds one Sloth spec (one service); found {len(documents)} "
                                    "documents: split them into one file each"))
    top = Reader(file, problems, first, "", Mark(1, 1))
    if not top.ok:
        raise SpecError(problems)
    version = top.value("version", as_str)
    if version is not None and version != SLOTH_VERSION:
        top.error(top.key_mark("version"), f"version: {version!r} is not supported; Sloth specs are read as "
                  f"{SLOTH_VERSION!r}")
    name = top.value("service", sloth_name)
    labels = top.value("labels", as_label_map, default={}) or {}
    _not_mappable(top, "slo_plugins", "Sloth SLO plugins change the rules Sloth generates and cannot be mapped")
    slos = _slos(top)
    top.finish()
    if problems or name is None:
        raise SpecError(problems)
    return Spec(service=Service(name=name, labels=labels), slos=tuple(slos), path=file, source_format=FORMAT)


def sloth_name(raw: Raw) -> str:
    text = as_nonempty_str(raw)
    if not SLOTH_NAME.match(text) or len(text) > 128:
        raise ValueError(f"{text!r}: a name starts and ends with a letter or digit and holds only letters, "
                         "digits, '.', '_' or '-'")
    return text


def _not_mappable(r: Reader, key: str, why: str) -> None:
    if r.has(key):
        r.raw(key)
        r.error(r.key_mark(key), f"{r.path(key)}: {why}")


def _slos(top: Reader) -> list[SLO]:
    if not top.has("slos"):
        top.error(top.mark, "slos: required (a list of SLOs)")
    items = top.items("slos")
    if top.has("slos") and not items and isinstance(top.node.get("slos"), list):
        top.error(top.key_mark("slos"), "slos: at least one SLO is needed")
    slos, names = [], set()
    for item, path, mark in items:
        r = Reader(top.file, top.problems, item, path, mark)
        if not r.ok:
            continue
        slo = _slo(r)
        if slo is None:
            continue
        if slo.name in names:
            r.error(r.key_mark("name"), f"{path}.name: SLO name {slo.name!r} is used twice")
        names.add(slo.name)
        slos.append(slo)
    return slos


def _slo(r: Reader) -> SLO | None:
    name = r.value("name", sloth_name)
    objective = r.value("objective", as_objective)
    description = r.value("description", as_str, default="")
    labels = r.value("labels", as_label_map, default={}) or {}
    _not_mappable(r, "plugins", "Sloth SLO plugins change the rules Sloth generates and cannot be mapped")
    sli_reader = r.child("sli", required=True)
    sli = _sli(sli_reader) if sli_reader else None
    alerting_reader = r.child("alerting")
    alerting = _alerting(alerting_reader) if alerting_reader else SLOAlerting()
    r.finish()
    if None in (name, objective, description, sli, alerting):
        return None
    return SLO(name=name, objective=objective, window=SLOTH_WINDOW, sli=sli, description=description,
               alerting=alerting, labels=labels)


SLI_TYPES = ("events", "raw", "plugin")


def _sli(r: Reader) -> RatioSLI | None:
    if not r.ok:
        return None
    kinds = [k for k in SLI_TYPES if r.has(k)]
    if len(kinds) != 1:
        found = f"found {', '.join(kinds)}" if kinds else "found none"
        r.error(r.mark, f"{r.where}: exactly one of {', '.join(SLI_TYPES)} is needed; {found}")
    sli = None
    events = r.child("events") if r.has("events") else None
    if events and events.ok:
        bad = events.value("error_query", as_promql(windowed=True))
        total = events.value("total_query", as_promql(windowed=True))
        events.finish()
        if bad and total and bad.strip() == total.strip():
            events.error(events.key_mark("total_query"), f"{events.path('total_query')}: the same as error_query")
        elif bad and total:
            sli = RatioSLI(total=total, bad=bad)
    raw = r.child("raw") if r.has("raw") else None
    if raw and raw.ok:
        query = raw.value("error_ratio_query", as_promql(windowed=True))
        raw.finish()
        if query is not None:
            sli = RatioSLI(error_ratio=query)
    _not_mappable(r, "plugin", "Sloth SLI plugins cannot be mapped; write the plugin's queries under sli.events "
                  "(error_query, total_query)")
    r.finish()
    return sli if len(kinds) == 1 else None


def _alerting(r: Reader) -> SLOAlerting | None:
    if not r.ok:
        return None
    alert_name = r.value("name", as_nonempty_str, default="")
    labels = r.value("labels", as_label_map, default={}) or {}
    annotations = str_map(r, "annotations")
    alerts = {key: _alert(r, key) for key in ALERTS}
    r.finish()
    if None in (alert_name, labels, annotations) or None in alerts.values():
        return None
    if alert_name:
        for reader, held in ((r, labels), *((a["reader"], a["labels"]) for a in alerts.values() if a["reader"])):
            if ALERT_NAME_LABEL in held:
                reader.error(_sub_key_mark(reader, "labels", ALERT_NAME_LABEL),
                             f"{reader.path('labels')}.{ALERT_NAME_LABEL}: reserved for alerting.name")
        labels = {**labels, ALERT_NAME_LABEL: alert_name}
    page, ticket = alerts["page_alert"], alerts["ticket_alert"]
    return SLOAlerting(page=not page["disable"], ticket=not ticket["disable"], labels=labels,
                       annotations=annotations, page_labels=page["labels"], ticket_labels=ticket["labels"],
                       page_annotations=page["annotations"], ticket_annotations=ticket["annotations"])


def _alert(parent: Reader, key: str) -> dict[str, Any] | None:
    r = parent.child(key)
    if r is None:
        return {"disable": False, "labels": {}, "annotations": {}, "reader": None}
    if not r.ok:
        return None
    alert = {
        "disable": r.value("disable", as_bool, default=False),
        "labels": r.value("labels", as_label_map, default={}),
        "annotations": str_map(r, "annotations"),
        "reader": r,
    }
    r.finish()
    return None if alert["disable"] is None or alert["labels"] is None else alert


def _sub_key_mark(r: Reader, key: str, sub: str) -> Mark:
    return r.node[key].key_marks[sub]
