"""OpenSLO v1 documents (``apiVersion: openslo/v1``) onto slo.model.

A file holds one service: optional ``Service`` and ``DataSource`` documents, ``SLI`` documents
referenced by ``indicatorRef`` (or an inline ``indicator``), and one or more ``SLO`` documents.

Mapping:

- ``budgetingMethod: Occurrences`` with a ``ratioMetric`` (good or bad, and total) -> ``RatioSLI``;
  a precomputed ``raw`` ratio -> ``RatioSLI(error_ratio=...)`` (``rawType: failure`` as written,
  ``success`` as ``1 - (query)``); its query needs ``{{.window}}``;
- ``budgetingMethod: Timeslices`` with a ``thresholdMetric`` -> ``TimesliceSLI`` (the objective's
  ``op``/``value``, ``timeSliceWindow``); ``timeSliceTarget`` must be 1, since a slice is good only
  when every sample in it is;
- ``objectives[].target`` (ratio) or ``targetPercent`` -> the objective in percent; several
  objectives become several SLOs named ``<name>-<index>`` (index from 0);
- ``timeWindow``: rolling ``m/h/d/w`` durations, or a calendar ``1M`` starting on the 1st at
  00:00 UTC -> the calendar month; no ``timeWindow`` is 30 days rolling, triton-slo's default;
- Prometheus metric sources (``type: Prometheus``, or a ``metricSourceRef`` to a Prometheus
  ``DataSource``) with ``spec.query``. A ratio query with ``{{.window}}`` is used as written; a
  counter (``counter: true``) written as a selector or a ``sum`` of one is read as its rate;
- ``metadata.labels`` of the SLO and the Service -> Prometheus labels on their rules and alerts
  (so they must be valid label names with one value); ``displayName`` stands in for a missing
  description. Labels of SLI and DataSource documents describe those objects,
  ``metadata.annotations`` are implementation-specific by the spec, and
  ``DataSource.connectionDetails`` do not matter to rules that run inside Prometheus: none of them
  changes the rules.

Everything else that carries meaning is an error naming the field: ``RatioTimeslices``,
Timeslices over a ratio, composite objectives, alert policies,
conditions and notification targets (triton-slo generates multiwindow burn-rate alerts),
non-Prometheus sources.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import promql_parser
from triton_slo.durations import format_duration
from triton_slo.model import SLO, RatioSLI, Service, Spec, TimesliceSLI, Window
from triton_slo.readers.fields import (
    LABEL_NAME,
    WINDOW_PLACEHOLDER,
    as_bool,
    as_nonempty_str,
    as_number,
    as_objective,
    as_slug,
    as_str,
    check_promql,
    one_of,
)
from triton_slo.readers.source import Mark, Raw, Reader, SpecError, SpecProblem, type_name

FORMAT = "openslo"
API_VERSION = "openslo/v1"
MAPPED_KINDS = ("SLO", "SLI", "Service", "DataSource")
ALERT_KINDS = ("AlertPolicy", "AlertCondition", "AlertNotificationTarget")
BUDGETING_METHODS = ("Occurrences", "Timeslices", "RatioTimeslices")
OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
DEFAULT_WINDOW = Window(seconds=30 * 86400, text="30d")
UTC_ZONES = ("UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z")
_SHORTHAND = re.compile(r"^([1-9]\d{0,5})([mhdwMQY])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
NOT_ALERTS = ("OpenSLO alerting cannot be mapped: triton-slo generates multiwindow burn-rate alerts from each "
              "SLO (write a triton-slo spec with alerting.tiers to change them)")


@dataclass(frozen=True)
class _Indicator:
    """An SLI document's metric, before an SLO's objective turns it into a model SLI."""

    kind: str  # "ratio" or "threshold"
    total: str = ""
    good: str = ""
    bad: str = ""
    error_ratio: str = ""
    query: str = ""


@dataclass
class _Doc:
    kind: str
    name: str
    top: Reader
    meta: Reader
    spec: Reader


def accepts(documents: list[Any]) -> bool:
    """A first document with ``apiVersion: openslo/...`` (in any case)."""
    first = documents[0]
    api_version = first.get("apiVersion") if isinstance(first, dict) else None
    return isinstance(api_version, str) and api_version.lower().startswith("openslo/")


def read(documents: list[Any], file: str) -> Spec:
    """OpenSLO v1 documents -> Spec, or SpecError listing every problem."""
    problems: list[SpecProblem] = []
    parsed = [_document(file, problems, doc) for doc in documents]
    by_kind: dict[str, dict[str, _Doc]] = {kind: {} for kind in MAPPED_KINDS}
    for doc in parsed:
        if doc is None:
            continue
        if doc.name in by_kind[doc.kind]:
            doc.meta.error(doc.meta.key_mark("name"), f"metadata.name: a {doc.kind} named {doc.name!r} is defined "
                                                      "twice")
            continue
        by_kind[doc.kind][doc.name] = doc
    for doc in [*by_kind["SLI"].values(), *by_kind["DataSource"].values()]:
        doc.meta.raw("labels")  # they describe the SLI or source, not the SLO's series
    sources = {name: _data_source(doc) for name, doc in by_kind["DataSource"].items()}
    indicators = {name: _sli_spec(doc.spec, sources) for name, doc in by_kind["SLI"].items()}
    service = _service(file, problems, by_kind)
    slos: list[SLO] = []
    names: dict[str, Mark] = {}
    for doc in by_kind["SLO"].values():
        for slo, mark in _slo(doc, indicators, sources, service):
            if slo.name in names:
                doc.meta.error(mark, f"SLO name {slo.name!r} (from objectives) clashes with another SLO")
            names[slo.name] = mark
            slos.append(slo)
    for doc in parsed:
        if doc is not None:
            for reader in (doc.meta, doc.top):
                reader.finish()
    if not by_kind["SLO"] and not problems:
        problems.append(SpecProblem(file, Mark(1, 1), "no SLO document (kind: SLO) in this OpenSLO file"))
    if problems or service is None:
        raise SpecError(problems)
    return Spec(service=service, slos=tuple(slos), path=file, source_format=FORMAT)


def _document(file: str, problems: list[SpecProblem], doc: Any) -> _Doc | None:
    top = Reader(file, problems, doc, "", getattr(doc, "mark", Mark(1, 1)))  # a bare scalar has no position
    if not top.ok:
        return None
    version = top.value("apiVersion", as_str)
    if version is not None and version != API_VERSION:
        top.error(top.key_mark("apiVersion"), f"apiVersion: {version!r} is not supported; OpenSLO documents are "
                                              f"read as {API_VERSION!r}")
    kind = top.value("kind", as_nonempty_str)
    if kind in ALERT_KINDS:
        top.error(top.key_mark("kind"), f"kind: {kind}: {NOT_ALERTS}")
    elif kind is not None and kind not in MAPPED_KINDS:
        known = {k.lower(): k for k in MAPPED_KINDS + ALERT_KINDS}
        close = difflib.get_close_matches(kind.lower(), known, n=1)
        hint = f"; did you mean {known[close[0]]!r}?" if close else ""
        top.error(top.key_mark("kind"), f"kind: {kind!r} is not an OpenSLO v1 kind ({', '.join(MAPPED_KINDS)})"
                                        f"{hint}")
    meta = top.child("metadata", required=True)
    spec = top.child("spec", required=True)
    if meta is None or spec is None or not meta.ok or kind not in MAPPED_KINDS or version != API_VERSION:
        top.raw("metadata")
        top.raw("spec")
        top.finish()
        return None
    name = meta.value("name", as_slug)
    meta.value("displayName", as_str, default="")
    meta.raw("annotations")
    _check_annotations(meta)
    if name is None:
        return None
    return _Doc(kind, name, top, meta, spec)


def _check_annotations(meta: Reader) -> None:
    value = meta.node.get("annotations")
    if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
        meta.error(meta.key_mark("annotations"), "metadata.annotations: must be a mapping of names to strings")


def _labels(meta: Reader) -> dict[str, str]:
    """metadata.labels as Prometheus labels: one string value per valid label name."""

    def convert(raw: Raw) -> dict[str, str]:
        if raw.value is None:
            return {}
        if not isinstance(raw.value, dict):
            raise ValueError(f"must be a mapping, not {type_name(raw.value)}")
        result = {}
        for key, value in raw.value.items():
            if not LABEL_NAME.match(key) or key.startswith("__"):
                raise ValueError(f"{key!r}: labels become Prometheus labels on the rules and alerts, and this is "
                                 "not a Prometheus label name")
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if not isinstance(value, str):
                raise ValueError(f"{key}: a label needs one string value here (a Prometheus label has one value)")
            result[key] = value
        return result

    return meta.value("labels", convert, default={}) or {}


def _description(doc: _Doc) -> str:
    text = doc.spec.value("description", as_str, default="") if doc.spec.ok else ""
    return text or (doc.meta.node.get("displayName") if isinstance(doc.meta.node.get("displayName"), str) else "")


def _data_source(doc: _Doc) -> str | None:
    """A DataSource's type; connectionDetails do not change the rules (they run inside Prometheus)."""
    s = doc.spec
    if not s.ok:
        return None
    s.value("description", as_str, default="")
    s.raw("connectionDetails")
    kind = s.value("type", as_nonempty_str)
    s.finish()
    return kind


def _service(file: str, problems: list[SpecProblem], by_kind: dict[str, dict[str, _Doc]]) -> Service | None:
    docs = list(by_kind["Service"].values())
    for extra in docs[1:]:
        extra.meta.error(extra.meta.key_mark("name"), f"metadata.name: a second Service ({extra.name!r}); a file "
                         f"holds one service ({docs[0].name!r})")
    wanted: dict[str, Mark] = {}
    for slo in by_kind["SLO"].values():
        if slo.spec.ok and slo.spec.has("service"):
            name = slo.spec.value("service", as_slug)
            if name is not None:
                wanted.setdefault(name, slo.spec.key_mark("service"))
    if docs:
        first = docs[0]
        for name, mark in wanted.items():
            if name != first.name:
                first.spec.error(mark, f"spec.service: {name!r} is not the Service {first.name!r} of this file")
        labels = _labels(first.meta)
        description = _description(first)
        first.spec.finish()
        return Service(name=first.name, description=description, labels=labels)
    if len(wanted) > 1:
        for name, mark in list(wanted.items())[1:]:
            problems.append(SpecProblem(file, mark, f"spec.service: {name!r}: a file holds one service "
                                                    f"({next(iter(wanted))!r})"))
        return None
    if not wanted:
        for slo in by_kind["SLO"].values():
            if slo.spec.ok and not slo.spec.has("service"):
                slo.spec.error(slo.spec.mark, "spec.service: required (or a Service document in the file)")
        return None
    return Service(name=next(iter(wanted)))


# --- SLI -------------------------------------------------------------------------------------------

def _sli_spec(s: Reader, sources: dict[str, str | None]) -> _Indicator | None:
    if not s.ok:
        return None
    s.value("description", as_str, default="")
    kinds = [k for k in ("ratioMetric", "thresholdMetric") if s.has(k)]
    if len(kinds) != 1:
        s.error(s.mark, f"{s.where}: exactly one of ratioMetric or thresholdMetric is needed; found "
                        f"{', '.join(kinds) or 'none'}")
    result = None
    threshold = s.child("thresholdMetric") if s.has("thresholdMetric") else None
    if threshold is not None:
        query = _metric_query(threshold, sources, windowed=False)
        result = _Indicator("threshold", query=query) if query else None
    ratio = s.child("ratioMetric") if s.has("ratioMetric") else None
    if ratio is not None:
        result = _ratio_metric(ratio, sources)
    s.finish()
    return result if len(kinds) == 1 else None


def _ratio_metric(r: Reader, sources: dict[str, str | None]) -> _Indicator | None:
    if not r.ok:
        return None
    counter = r.value("counter", as_bool, default=None)
    if r.has("raw") or r.has("rawType"):
        return _raw_ratio(r, sources)
    if r.has("good") == r.has("bad"):
        r.error(r.mark, f"{r.where}: give exactly one of good or bad, with total")
    queries = {}
    for key in ("good", "bad", "total"):
        if key == "total" or r.has(key):
            holder = r.child(key, required=True)
            queries[key] = _metric_query(holder, sources, windowed=True, counter=counter) if holder else None
    r.finish()
    if None in queries.values() or r.has("good") == r.has("bad"):
        return None
    return _Indicator("ratio", **queries)


def _raw_ratio(r: Reader, sources: dict[str, str | None]) -> _Indicator | None:
    """``raw`` with ``rawType: failure`` (an error ratio) or ``success`` (a good ratio): a precomputed ratio."""
    raw_type = r.value("rawType", one_of("success", "failure"))
    holder = r.child("raw", required=True)
    query = _metric_query(holder, sources, windowed=True, precomputed=True) if holder else None
    others = [key for key in ("good", "bad", "total") if r.has(key)]
    for key in others:
        r.raw(key)
        r.error(r.key_mark(key), f"{r.path(key)}: not with raw (a precomputed ratio stands alone)")
    r.finish()
    if query is None or raw_type is None or others:
        return None
    return _Indicator("ratio", error_ratio=query if raw_type == "failure" else f"1 - ({query})")


def _metric_query(holder: Reader, sources: dict[str, str | None], windowed: bool,
                  counter: bool | None = None, precomputed: bool = False) -> str | None:
    """The PromQL of ``<holder>.metricSource.spec.query``; ratio queries come back with ``{{.window}}``."""
    if not holder.ok:
        return None
    m = holder.child("metricSource", required=True)
    holder.finish()
    if m is None or not m.ok:
        return None
    ref = m.value("metricSourceRef", as_nonempty_str, default="")
    kind = m.value("type", as_nonempty_str, default="")
    spec = m.child("spec", required=True)
    m.finish()
    if ref and ref in sources and not kind:
        kind = sources[ref] or ""
    if not kind and ref is not None and kind is not None:
        where = m.key_mark("metricSourceRef") if ref else m.mark
        m.error(where, f"{m.path('type')}: required (Prometheus), or a metricSourceRef to a DataSource in this file"
                + (f"; {ref!r} is not one" if ref else ""))
        return None
    if kind and kind.lower() != "prometheus":
        m.error(m.key_mark("type") if m.has("type") else m.key_mark("metricSourceRef"),
                f"{m.path('type')}: {kind!r} cannot be mapped: triton-slo reads Prometheus metric sources")
        return None
    if spec is None or not spec.ok:
        return None
    query = spec.value("query", as_nonempty_str)
    spec.finish()
    if not query or not kind:
        return None
    reason = check_promql(query)
    if reason:
        spec.error(spec.key_mark("query"), f"{spec.path('query')}: PromQL does not parse: {reason}")
        return None
    has_window = bool(WINDOW_PLACEHOLDER.search(query))
    if not windowed:
        if has_window:
            spec.error(spec.key_mark("query"), f"{spec.path('query')}: a threshold metric is read as it is at each "
                                               "moment; {{.window}} has no meaning here")
            return None
        return query.strip()
    if has_window:
        return query.strip()
    if precomputed:
        spec.error(spec.key_mark("query"), f"{spec.path('query')}: a raw ratio needs a {{{{.window}}}} range (e.g. "
                                           "sum(rate(errors[{{.window}}])) / sum(rate(all[{{.window}}]))) so each "
                                           "alert window can be computed")
        return None
    rate = _counter_rate(query) if counter else None
    if rate is None:
        why = ("is not a selector or a sum of one; write the rate yourself" if counter else
               "is not marked as a counter (counter: true), so its rate cannot be taken; or write the rate")
        spec.error(spec.key_mark("query"), f"{spec.path('query')}: {why} with a {{{{.window}}}} range, e.g. "
                                           "sum(rate(x[{{.window}}]))")
    return rate


def _counter_rate(query: str) -> str | None:
    """``x{...}`` -> ``sum(rate(x{...}[{{.window}}]))``; ``sum by (a) (x)`` -> ``sum by (a) (rate(x[...]))``."""
    try:
        expr = promql_parser.parse(query)
    except BaseException:  # noqa: BLE001 - a Rust panic surfaces as PanicException; parse was checked before
        return None
    while isinstance(expr, promql_parser.ParenExpr):
        expr = expr.expr
    grouping = ""
    if isinstance(expr, promql_parser.AggregateExpr):
        if str(expr.op) != "sum" or expr.param is not None:
            return None
        grouping = f" {expr.modifier} " if expr.modifier is not None else ""
        expr = expr.expr
        while isinstance(expr, promql_parser.ParenExpr):
            expr = expr.expr
    if not isinstance(expr, promql_parser.VectorSelector) or expr.offset is not None or expr.at is not None:
        return None
    return f"sum{grouping}(rate({expr}[{{{{.window}}}}]))"


# --- SLO -------------------------------------------------------------------------------------------

def _slo(doc: _Doc, indicators: dict[str, _Indicator | None], sources: dict[str, str | None],
         service: Service | None) -> list[tuple[SLO, Mark]]:
    s = doc.spec
    if not s.ok:
        return []
    labels = _labels(doc.meta)
    description = _description(doc)
    s.raw("service")  # read with the Service
    indicator = _indicator_of(s, indicators, sources)
    window = _time_window(s)
    method = s.value("budgetingMethod", one_of(*BUDGETING_METHODS))
    if method == "RatioTimeslices":
        s.error(s.key_mark("budgetingMethod"), "spec.budgetingMethod: RatioTimeslices (the mean of per-slice ratios) "
                                               "cannot be mapped; use Occurrences")
    elif method == "Timeslices" and indicator is not None and indicator.kind == "ratio":
        s.error(s.key_mark("budgetingMethod"), "spec.budgetingMethod: Timeslices over a ratioMetric cannot be "
                                               "mapped; use Occurrences, or a thresholdMetric")
    elif method == "Occurrences" and indicator is not None and indicator.kind == "threshold":
        s.error(s.key_mark("budgetingMethod"), "spec.budgetingMethod: a thresholdMetric is judged in time slices; "
                                               "use Timeslices")
    for _item, path, mark in s.items("alertPolicies"):
        s.error(mark, f"{path}: {NOT_ALERTS}")
    objectives = s.items("objectives")
    if not s.has("objectives"):
        s.error(s.mark, "spec.objectives: required (a list with at least one target)")
    elif not objectives:
        s.error(s.key_mark("objectives"), "spec.objectives: at least one objective is needed")
    s.finish()
    result = []
    for index, (item, path, mark) in enumerate(objectives):
        o = Reader(s.file, s.problems, item, path, mark)
        if not o.ok:
            continue
        name = doc.name if len(objectives) == 1 else f"{doc.name}-{index}"
        slo = _objective_slo(o, name, indicator, method, window, description, labels)
        if len(name) > 63:
            o.error(mark, f"{path}: the SLO name {name!r} is longer than 63 characters")
        elif slo is not None:
            result.append((slo, mark))
    return result


def _indicator_of(s: Reader, indicators: dict[str, _Indicator | None],
                  sources: dict[str, str | None]) -> _Indicator | None:
    if s.has("indicator") == s.has("indicatorRef"):
        s.error(s.mark, "spec: exactly one of indicator or indicatorRef is needed")
    if s.has("indicatorRef"):
        ref = s.value("indicatorRef", as_slug)
        if ref is not None and ref not in indicators:
            close = difflib.get_close_matches(ref, sorted(indicators), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else (
                f" (SLIs here: {', '.join(sorted(indicators))})" if indicators else " (no SLI document in this file)")
            s.error(s.key_mark("indicatorRef"), f"spec.indicatorRef: no SLI named {ref!r}{hint}")
            return None
        return indicators.get(ref) if ref else None
    inline = s.child("indicator")
    if inline is None or not inline.ok:
        return None
    meta = inline.child("metadata")
    if meta is not None and meta.ok:
        meta.value("name", as_slug, default="")
        meta.value("displayName", as_str, default="")
        _labels(meta)
        meta.raw("annotations")
        _check_annotations(meta)
        meta.finish()
    body = inline.child("spec", required=True)
    inline.finish()
    return _sli_spec(body, sources) if body else None


def _shorthand(raw: Raw) -> tuple[int, str]:
    text = as_str(raw)
    match = _SHORTHAND.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30d, 4w, 1M (a number and one of m h d w M Q Y)")
    return int(match.group(1)), match.group(2)


def _time_window(s: Reader) -> Window | None:
    items = s.items("timeWindow")
    if not s.has("timeWindow"):
        return DEFAULT_WINDOW
    if len(items) != 1:
        s.error(s.key_mark("timeWindow"), f"spec.timeWindow: exactly one time window is needed, found {len(items)}")
        return None
    item, path, mark = items[0]
    t = Reader(s.file, s.problems, item, path, mark)
    if not t.ok:
        return None
    duration = t.value("duration", _shorthand)
    calendar = t.child("calendar")
    rolling = t.value("isRolling", as_bool, default=calendar is None)
    window = None
    if calendar is not None:
        window = _calendar(calendar, duration, t)
        if rolling:
            t.error(t.key_mark("isRolling"), f"{t.path('isRolling')}: a calendar window is not rolling")
    elif not rolling and rolling is not None:
        t.error(t.key_mark("isRolling"), f"{t.path('isRolling')}: false needs a calendar (startTime, timeZone)")
    elif duration is not None:
        count, unit = duration
        if unit not in _UNIT_SECONDS:
            t.error(t.key_mark("duration"), f"{t.path('duration')}: a rolling window in months, quarters or years "
                                            "has no fixed length; give it in days (e.g. 30d) or use a calendar window")
        elif count * _UNIT_SECONDS[unit] < 3600:
            t.error(t.key_mark("duration"), f"{t.path('duration')}: shorter than the 1h minimum for an SLO window")
        else:
            seconds = count * _UNIT_SECONDS[unit]
            window = Window(seconds=seconds, text=format_duration(seconds))
    t.finish()
    return window


def _calendar(c: Reader, duration: tuple[int, str] | None, t: Reader) -> Window | None:
    start = c.value("startTime", _start_time)
    zone = c.value("timeZone", as_nonempty_str)
    c.finish()
    ok = True
    if zone is not None and zone not in UTC_ZONES:
        c.error(c.key_mark("timeZone"), f"{c.path('timeZone')}: {zone!r} cannot be mapped: calendar months are "
                                        "counted in UTC here")
        ok = False
    if start is not None and (start.day != 1 or (start.hour, start.minute, start.second) != (0, 0, 0)):
        c.error(c.key_mark("startTime"), f"{c.path('startTime')}: cannot be mapped: calendar months start on the "
                                         "1st at 00:00:00")
        ok = False
    if duration is not None and duration != (1, "M"):
        t.error(t.key_mark("duration"), f"{t.path('duration')}: a calendar window of {duration[0]}{duration[1]} "
                                        "cannot be mapped; only 1M (the calendar month) can")
        ok = False
    if not ok or None in (start, zone, duration):
        return None
    return Window(seconds=30 * 86400, text="month", calendar=True)


def _start_time(raw: Raw) -> dt.datetime:
    value = raw.value
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    try:
        return dt.datetime.fromisoformat(as_str(raw))
    except ValueError:
        raise ValueError(f"{value!r} is not a date and time like 2024-01-01 00:00:00") from None


def _target(raw: Raw) -> Decimal:
    as_number(raw)
    try:
        ratio = Decimal(raw.text if raw.text is not None else str(raw.value))
    except InvalidOperation:
        raise ValueError(f"{raw.value!r} is not a number") from None
    if not Decimal(0) < ratio < Decimal(1):
        raise ValueError(f"{raw.value} must be strictly between 0 and 1 (0.999 is 99.9%)")
    percent = (ratio * 100).normalize()
    return percent.quantize(Decimal(1)) if percent.as_tuple().exponent > 0 else percent


def _slice(raw: Raw) -> int:
    if isinstance(raw.value, (int, float)) and not isinstance(raw.value, bool):
        minutes = as_number(raw)
        if minutes <= 0 or minutes * 60 != int(minutes * 60):
            raise ValueError("a number of minutes must be a whole number of seconds, above 0")
        return int(minutes * 60)
    count, unit = _shorthand(raw)
    if unit not in _UNIT_SECONDS:
        raise ValueError(f"{count}{unit} is not a time slice (use m, h or d)")
    return count * _UNIT_SECONDS[unit]


def _objective_slo(o: Reader, name: str, indicator: _Indicator | None, method: str | None, window: Window | None,
                   description: str, labels: dict[str, str]) -> SLO | None:
    display = o.value("displayName", as_str, default="")
    if o.has("target") == o.has("targetPercent"):
        o.error(o.mark, f"{o.where}: exactly one of target or targetPercent is needed")
    target = o.value("target", _target, default=None)
    percent = o.value("targetPercent", as_objective, default=None)
    objective = target if o.has("target") else percent
    for key in ("indicator", "indicatorRef", "compositeWeight"):
        if o.has(key):
            o.raw(key)
            o.error(o.key_mark(key), f"{o.path(key)}: composite SLOs cannot be mapped; write one SLO per indicator")
    threshold = indicator is not None and indicator.kind == "threshold"
    op = value = None
    if threshold:
        op = o.value("op", one_of(*OPS))
        value = o.value("value", as_number)
    else:
        for key in ("op", "value"):
            if o.has(key):
                o.raw(key)
                o.error(o.key_mark(key), f"{o.path(key)}: only with a thresholdMetric")
    slice_seconds = None
    if method == "Timeslices":
        slice_seconds = o.value("timeSliceWindow", _slice)
        slice_target = o.value("timeSliceTarget", as_number)
        if slice_target is not None and slice_target != 1:
            o.error(o.key_mark("timeSliceTarget"), f"{o.path('timeSliceTarget')}: {slice_target:g} cannot be mapped: "
                                                   "a slice is good when every sample in it is (timeSliceTarget: 1)")
    else:
        for key in ("timeSliceWindow", "timeSliceTarget"):
            if o.has(key):
                o.raw(key)
                o.error(o.key_mark(key), f"{o.path(key)}: only with budgetingMethod: Timeslices")
    o.finish()
    if indicator is None or window is None or objective is None or method not in ("Occurrences", "Timeslices"):
        return None
    if threshold:
        if None in (op, value, slice_seconds) or method != "Timeslices":
            return None
        sli: Any = TimesliceSLI(query=indicator.query, op=OPS[op], threshold=value, slice_seconds=slice_seconds)
    else:
        if method != "Occurrences":
            return None
        sli = RatioSLI(total=indicator.total, good=indicator.good, bad=indicator.bad, error_ratio=indicator.error_ratio)
    text = f"{description} ({display})" if description and display else description or display
    return SLO(name=name, objective=objective, window=window, sli=sli, description=text, labels=labels)
