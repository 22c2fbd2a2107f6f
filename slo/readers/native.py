"""The triton-slo/v1 reader: triton-slo's own spec format (one YAML document; docs/spec.md).

It is the default reader: any document no other reader claims comes here, and a missing or
unknown ``version`` is reported as such.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from triton_slo.durations import format_duration
from triton_slo.model import (
    SLO,
    AccuracySLI,
    AvailabilitySLI,
    BurnRateTier,
    Canary,
    CanaryMetric,
    LatencySLI,
    ModelRef,
    MuteInterval,
    OpsThresholds,
    RatioSLI,
    Receiver,
    Service,
    ServiceAlerting,
    SLOAlerting,
    Spec,
    TimesliceSLI,
    Window,
)
from triton_slo.names import PROBE_LATENCY
from triton_slo.readers.fields import (
    as_bool,
    as_duration,
    as_int,
    as_label_map,
    as_label_name,
    as_latency,
    as_metric_name,
    as_nonempty_str,
    as_number,
    as_objective,
    as_promql,
    as_slug,
    as_str,
    in_range,
    one_of,
    str_map,
)
from triton_slo.readers.source import Mark, Raw, Reader, SpecError, SpecProblem

FORMAT = "triton-slo"
FORMAT_VERSION = "triton-slo/v1"
SLI_KINDS = ("availability", "latency", "ratio", "timeslice", "accuracy")
TRITON_FAILURE_REASONS = ("REJECTED", "CANCELED", "BACKEND", "OTHER")
CALENDAR_WINDOWS = ("month", "calendar-month")


def accepts(documents: list[Any]) -> bool:
    """Every file: the readers before this one have claimed theirs."""
    return True


def read(documents: list[Any], file: str) -> Spec:
    """One triton-slo/v1 document -> Spec, or SpecError listing every problem."""
    if len(documents) > 1:
        raise SpecError([SpecProblem(file, Mark(1, 1), "a triton-slo spec is one YAML document, found "
                                     f"{len(documents)}")])
    doc = documents[0]
    problems: list[SpecProblem] = []
    top = Reader(file, problems, doc, "", Mark(1, 1))
    if not top.ok:
        raise SpecError(problems)
    version = top.value("version", as_str, what=f"version: {FORMAT_VERSION}")
    if version is not None and version != FORMAT_VERSION:
        top.error(top.key_mark("version"), f"version: {version!r} is not supported; expected {FORMAT_VERSION!r} "
                  "(Sloth's prometheus/v1 and OpenSLO's openslo/v1 are read too)")
    service_reader = top.child("service", required=True)
    service = _service(service_reader) if service_reader else None
    slos = _slos(top, service)
    alerting_reader = top.child("alerting")
    alerting = _service_alerting(alerting_reader) if alerting_reader else ServiceAlerting()
    canary_reader = top.child("canary")
    canary = _canary(canary_reader) if canary_reader else None
    top.finish()
    if problems or service is None:
        raise SpecError(problems)
    return Spec(service=service, slos=tuple(slos), alerting=alerting, canary=canary, path=file,
                source_format=FORMAT)


def _service(r: Reader) -> Service | None:
    name = r.value("name", as_slug)
    selectors = {}
    for key in ("triton", "dcgm", "exporter"):
        selectors[key] = r.value(key, as_label_map, default={}) or {}
    models = []
    seen: set[str] = set()
    for item, path, mark in r.items("models"):
        model = _model_ref(r, item, path, mark)
        if model is None:
            continue
        if model.name in seen:
            r.error(mark, f"{path}: model {model.name!r} is listed twice")
        seen.add(model.name)
        models.append(model)
    service = Service(
        name=name or "",
        team=r.value("team", as_str, default=""),
        owner=r.value("owner", as_str, default=""),
        description=r.value("description", as_str, default=""),
        runbook_base_url=r.value("runbook_base_url", as_nonempty_str, default="runbooks"),
        dashboard_base_url=r.value("dashboard_base_url", as_str, default=""),
        triton_selector=selectors["triton"],
        dcgm_selector=selectors["dcgm"],
        exporter_selector=selectors["exporter"],
        models=tuple(models),
        labels=r.value("labels", as_label_map, default={}) or {},
    )
    r.finish()
    return service if name else None


def _model_ref(parent: Reader, item: Any, path: str, mark: Mark) -> ModelRef | None:
    if isinstance(item, str):
        return ModelRef(item) if item else parent.error(mark, f"{path}: empty model name")
    r = Reader(parent.file, parent.problems, item, path, mark)
    if not r.ok:
        return None
    name = r.value("name", as_nonempty_str)
    versions = []
    for version, vpath, vmark in r.items("versions"):
        if isinstance(version, bool) or not isinstance(version, (str, int)) or str(version) == "":
            r.error(vmark, f"{vpath}: a version is a number or a string like \"2\"")
        else:
            versions.append(str(version))
    r.finish()
    return ModelRef(name, tuple(versions)) if name else None


def _slos(top: Reader, service: Service | None) -> list[SLO]:
    items = top.items("slos")
    if "slos" in top.node and not items and isinstance(top.node.get("slos"), list):
        top.error(top.key_mark("slos"), "slos: at least one SLO is needed")
    if "slos" not in top.node:
        top.error(top.mark, "slos: required (a list of SLOs)")
    slos, names = [], set()
    known_models = {m.name for m in service.models} if service else set()
    for item, path, mark in items:
        r = Reader(top.file, top.problems, item, path, mark)
        if not r.ok:
            continue
        slo = _slo(r, known_models)
        if slo is None:
            continue
        if slo.name in names:
            r.error(r.key_mark("name"), f"{path}.name: SLO name {slo.name!r} is used twice")
        names.add(slo.name)
        slos.append(slo)
    return slos


def _window(raw: Raw) -> Window:
    if isinstance(raw.value, str) and raw.value.strip().lower() in CALENDAR_WINDOWS:
        return Window(seconds=30 * 86400, text="month", calendar=True)
    seconds = as_duration(raw)
    if seconds < 3600:
        raise ValueError(f"{raw.value!r} is shorter than the 1h minimum for an SLO window")
    return Window(seconds=seconds, text=format_duration(seconds))


def _slo(r: Reader, known_models: set[str]) -> SLO | None:
    name = r.value("name", as_slug)
    objective = r.value("objective", as_objective)
    window = r.value("window", _window, default=Window(30 * 86400, "30d"))
    description = r.value("description", as_str, default="")
    labels = r.value("labels", as_label_map, default={}) or {}
    models = []
    for item, path, mark in r.items("models"):
        model = _model_ref(r, item, path, mark)
        if model is None:
            continue
        if known_models and model.name not in known_models:
            r.error(mark, f"{path}: model {model.name!r} is not one of the service's models "
                          f"({', '.join(sorted(known_models))})")
        models.append(model)
    sli_reader = r.child("sli", required=True)
    sli = _sli(sli_reader) if sli_reader else None
    alerting_reader = r.child("alerting")
    alerting = _slo_alerting(alerting_reader, window) if alerting_reader else SLOAlerting()
    if isinstance(sli, RatioSLI) and sli.precomputed and alerting and alerting.min_events and alerting_reader:
        alerting_reader.error(alerting_reader.key_mark("min_events"),
                              f"{alerting_reader.path('min_events')}: a precomputed error_ratio has no event count "
                              "to check; give good/bad and total to use min_events")
    r.finish()
    if None in (name, objective, window, sli, alerting):
        return None
    return SLO(name=name, objective=objective, window=window, sli=sli, description=description,
               alerting=alerting, models=tuple(models), labels=labels)


def _sli(r: Reader) -> Any:
    kinds = [k for k in r.node if k in SLI_KINDS]
    if len(kinds) != 1:
        unknown = [k for k in r.node if k not in SLI_KINDS]
        if unknown:
            r.finish(set(SLI_KINDS))
            return None
        found = f"found {', '.join(kinds)}" if kinds else "found none"
        r.error(r.mark, f"{r.where}: exactly one of {', '.join(SLI_KINDS)} is needed; {found}")
        return None
    kind = kinds[0]
    body = r.child(kind)
    reader = {"availability": _availability, "latency": _latency, "ratio": _ratio,
              "timeslice": _timeslice, "accuracy": _accuracy}[kind]
    sli = reader(body) if body and body.ok else None
    if body:
        body.finish()
    r.finish()
    return sli


def _availability(r: Reader) -> AvailabilitySLI:
    reasons = []
    for item, path, mark in r.items("exclude_reasons"):
        if item not in TRITON_FAILURE_REASONS:
            r.error(mark, f"{path}: {item!r} is not a Triton failure reason ({', '.join(TRITON_FAILURE_REASONS)})")
        else:
            reasons.append(item)
    return AvailabilitySLI(exclude_reasons=tuple(reasons))


def _unit_of(metric: str) -> str | None:
    for suffix, unit in (("_seconds", "s"), ("_ms", "ms"), ("_us", "us")):
        if metric.endswith(suffix):
            return unit
    return None


def _latency(r: Reader) -> LatencySLI | None:
    threshold = r.value("threshold", as_latency, what="e.g. 50ms")
    metric = r.value("metric", as_metric_name, default="")
    source = r.value("source", one_of("histogram", "summary"), default="histogram" if metric else "summary")
    unit = r.value("unit", one_of("s", "ms", "us"), default=None)
    if source == "histogram":
        metric = metric or PROBE_LATENCY
        for key in ("quantile", "slice"):
            if r.has(key):
                r.raw(key)
                r.error(r.key_mark(key), f"{r.path(key)}: only for source: summary")
        if unit is None:
            unit = _unit_of(metric)
            if unit is None and metric:
                r.error(r.mark, f"{r.path('unit')}: required: the name {metric!r} does not say s, ms or us")
        quantile, slice_seconds = 0.99, 60
    else:
        if r.has("metric"):
            r.error(r.key_mark("metric"), f"{r.path('metric')}: only for source: histogram (the summary is "
                                          "Triton's nv_inference_request_summary_us)")
        if r.has("unit"):
            r.error(r.key_mark("unit"), f"{r.path('unit')}: only for source: histogram")
        unit = "us"
        quantile = r.value("quantile", in_range(as_number, 0, 1), default=0.99)
        slice_seconds = r.value("slice", as_duration, default=60)
    if None in (threshold, source, quantile, slice_seconds) or unit is None:
        return None
    return LatencySLI(threshold_seconds=threshold, source=source, metric=metric if source == "histogram" else "",
                      metric_unit=unit, quantile=quantile, slice_seconds=slice_seconds)


def _ratio(r: Reader) -> RatioSLI | None:
    if r.has("error_ratio"):
        return _precomputed_ratio(r)
    total = r.value("total", as_promql(windowed=True))
    good = r.value("good", as_promql(windowed=True), default="")
    bad = r.value("bad", as_promql(windowed=True), default="")
    if r.has("good") == r.has("bad"):
        r.error(r.mark, f"{r.where}: give exactly one of good or bad (with total)")
        return None
    if total is None or good is None or bad is None:
        return None
    return RatioSLI(total=total, good=good, bad=bad)


def _precomputed_ratio(r: Reader) -> RatioSLI | None:
    error_ratio = r.value("error_ratio", as_promql(windowed=True))
    others = [key for key in ("good", "bad", "total") if r.has(key)]
    for key in others:
        r.raw(key)
        r.error(r.key_mark(key), f"{r.path(key)}: not with error_ratio (a precomputed error ratio stands alone; "
                                 "or give good/bad with total instead)")
    if error_ratio is None or others:
        return None
    return RatioSLI(error_ratio=error_ratio)


def _timeslice(r: Reader) -> TimesliceSLI | None:
    query = r.value("query", as_promql(windowed=False))
    op = r.value("op", one_of("<", "<=", ">", ">="))
    threshold = r.value("threshold", as_number)
    slice_seconds = r.value("slice", as_duration, default=60)
    if None in (query, op, threshold, slice_seconds):
        return None
    return TimesliceSLI(query=query, op=op, threshold=threshold, slice_seconds=slice_seconds)


def _accuracy(r: Reader) -> AccuracySLI:
    return AccuracySLI()


def _slo_alerting(r: Reader, window: Window | None) -> SLOAlerting | None:
    tiers = []
    names: set[str] = set()
    for item, path, mark in r.items("tiers"):
        t = Reader(r.file, r.problems, item, path, mark)
        if not t.ok:
            continue
        tier_name = t.value("name", as_slug)
        severity = t.value("severity", one_of("critical", "warning"))
        factor = t.value("factor", _positive_decimal)
        long_window = t.value("long", as_duration)
        short_window = t.value("short", as_duration)
        t.finish()
        if None in (tier_name, severity, factor, long_window, short_window):
            continue
        if tier_name in names:
            t.error(t.key_mark("name"), f"{path}.name: tier {tier_name!r} is used twice")
        names.add(tier_name)
        if short_window >= long_window:
            t.error(t.key_mark("short"), f"{path}.short: must be shorter than long ({format_duration(long_window)})")
        if window and long_window > window.seconds:
            t.error(t.key_mark("long"), f"{path}.long: longer than the SLO window ({window.text})")
        tiers.append(BurnRateTier(tier_name, severity, factor, long_window, short_window))
    alerting = SLOAlerting(
        page=r.value("page", as_bool, default=True),
        ticket=r.value("ticket", as_bool, default=True),
        labels=r.value("labels", as_label_map, default={}) or {},
        annotations=str_map(r, "annotations"),
        page_labels=r.value("page_labels", as_label_map, default={}) or {},
        ticket_labels=r.value("ticket_labels", as_label_map, default={}) or {},
        page_annotations=str_map(r, "page_annotations"),
        ticket_annotations=str_map(r, "ticket_annotations"),
        runbook_url=r.value("runbook_url", as_nonempty_str, default=""),
        min_events=r.value("min_events", in_range(as_int, 0, 1e12, open_low=False), default=0),
        no_traffic_for=r.value("no_traffic_for", as_duration, default=0),
        tiers=tuple(tiers),
    )
    r.finish()
    if None in (alerting.page, alerting.ticket, alerting.runbook_url, alerting.min_events, alerting.no_traffic_for):
        return None
    return alerting


def _positive_decimal(raw: Raw) -> Decimal:
    as_number(raw)
    value = Decimal(raw.text if raw.text is not None else str(raw.value))
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


def _service_alerting(r: Reader) -> ServiceAlerting:
    receivers, names = [], set()
    for item, path, mark in r.items("receivers"):
        receiver = _receiver(Reader(r.file, r.problems, item, path, mark))
        if receiver is None:
            continue
        if receiver.name in names:
            r.error(mark, f"{path}.name: receiver {receiver.name!r} is defined twice")
        names.add(receiver.name)
        receivers.append(receiver)
    page_receiver = r.value("page_receiver", as_nonempty_str, default="")
    ticket_receiver = r.value("ticket_receiver", as_nonempty_str, default="")
    for key, value in (("page_receiver", page_receiver), ("ticket_receiver", ticket_receiver)):
        if value and value not in names:
            r.error(r.key_mark(key), f"{r.path(key)}: {value!r} is not a receiver defined under receivers")
    group_by = []
    for item, path, mark in r.items("group_by"):
        if not isinstance(item, str) or not (item == "..." or re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", item)):
            r.error(mark, f"{path}: {item!r} is not a label name")
        else:
            group_by.append(item)
    mutes, mute_names = [], set()
    for item, path, mark in r.items("mute_intervals"):
        mute = _mute_interval(Reader(r.file, r.problems, item, path, mark))
        if mute is None:
            continue
        if mute.name in mute_names:
            r.error(mark, f"{path}.name: mute interval {mute.name!r} is defined twice")
        mute_names.add(mute.name)
        mutes.append(mute)
    thresholds_reader = r.child("thresholds")
    thresholds = _thresholds(thresholds_reader) if thresholds_reader else OpsThresholds()
    alerting = ServiceAlerting(
        receivers=tuple(receivers),
        page_receiver=page_receiver or "",
        ticket_receiver=ticket_receiver or "",
        group_by=tuple(group_by) if "group_by" in r.node else ServiceAlerting().group_by,
        mute_intervals=tuple(mutes),
        thresholds=thresholds,
        labels=r.value("labels", as_label_map, default={}) or {},
    )
    r.finish()
    return alerting


def _receiver(r: Reader) -> Receiver | None:
    if not r.ok:
        return None
    name = r.value("name", as_nonempty_str)
    kind = r.value("type", one_of("webhook", "pagerduty", "slack", "email"))
    fields = {key: r.value(key, as_nonempty_str, default="") for key in
              ("url", "url_file", "routing_key_file", "channel", "to")}
    needs = {"webhook": ("url", "url_file"), "pagerduty": ("routing_key_file",), "slack": ("url_file",),
             "email": ("to",)}
    allowed = {"webhook": {"url", "url_file"}, "pagerduty": {"routing_key_file"},
               "slack": {"url_file", "channel"}, "email": {"to"}}
    if kind:
        if not any(fields[k] for k in needs[kind]):
            r.error(r.mark, f"{r.where}: a {kind} receiver needs {' or '.join(needs[kind])}")
        for key, value in fields.items():
            if value and key not in allowed[kind]:
                hint = " (secrets are read from files: use url_file)" if kind == "slack" and key == "url" else ""
                r.error(r.key_mark(key), f"{r.path(key)}: not used by a {kind} receiver{hint}")
    r.finish()
    if not name or not kind:
        return None
    return Receiver(name=name, type=kind, **{k: v or "" for k, v in fields.items()})


# Alertmanager's week runs from Sunday: a range must go forward in this order (monday:sunday is refused).
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_RANGE_OF = re.compile(r"^(-?\d+)(?::(-?\d+))?$")


def _mute_interval(r: Reader) -> MuteInterval | None:
    if not r.ok:
        return None
    name = r.value("name", as_slug)
    severities = []
    for item, path, mark in r.items("severities"):
        if item not in ("critical", "warning"):
            r.error(mark, f"{path}: {item!r} is not critical or warning")
        else:
            severities.append(item)
    times = []
    for item, path, mark in r.items("times"):
        t = Reader(r.file, r.problems, item, path, mark)
        if not t.ok:
            continue
        entry: dict[str, Any] = {}
        problems_before = len(r.problems)
        for wd, wpath, wmark in t.items("weekdays"):
            parts = str(wd).lower().split(":")
            if not all(p in WEEKDAYS for p in parts) or len(parts) > 2:
                t.error(wmark, f"{wpath}: {wd!r} is not a weekday or range like monday:friday")
            elif len(parts) == 2 and WEEKDAYS.index(parts[0]) > WEEKDAYS.index(parts[1]):
                t.error(wmark, f"{wpath}: {wd!r} runs backwards: Alertmanager's week starts on sunday "
                               f"(split it, e.g. [{parts[0]}:saturday, sunday:{parts[1]}])")
            entry.setdefault("weekdays", []).append(str(wd).lower())
        for span, spath, smark in t.items("times"):
            s = Reader(r.file, r.problems, span, spath, smark)
            start = s.value("start_time", _clock)
            end = s.value("end_time", _clock)
            s.finish()
            if start and end:
                if start >= end:
                    s.error(s.mark, f"{spath}: start_time must be before end_time")
                entry.setdefault("times", []).append({"start_time": start, "end_time": end})
        for key, low, high in (("days_of_month", -31, 31), ("months", 1, 12), ("years", 1970, 9999)):
            for value, vpath, vmark in t.items(key):
                match = _RANGE_OF.match(str(value))
                if not match or not all(low <= int(g) <= high for g in match.groups() if g is not None):
                    t.error(vmark, f"{vpath}: {value!r} is not a value or range within {low}..{high}")
                entry.setdefault(key, []).append(str(value))
        location = t.value("location", as_nonempty_str, default="")
        if location:
            entry["location"] = location
        t.finish()
        if not entry and len(r.problems) == problems_before:  # not when its fields were there but wrong
            t.error(mark, f"{path}: empty time interval (it would match all the time)")
        times.append(entry)
    if not times and "times" in r.node:
        r.error(r.key_mark("times"), f"{r.path('times')}: at least one time interval is needed")
    elif "times" not in r.node:
        r.error(r.mark, f"{r.path('times')}: required")
    r.finish()
    if not name or not times:
        return None
    return MuteInterval(name=name, times=tuple(times), severities=tuple(severities) or ("warning",))


def _clock(raw: Raw) -> str:
    text = as_str(raw)
    match = re.match(r"^(\d{2}):(\d{2})$", text)
    if not match or int(match.group(1)) > 24 or int(match.group(2)) > 59 or (
            int(match.group(1)) == 24 and int(match.group(2)) != 0):
        raise ValueError(f"{text!r} is not a time like 02:00 (HH:MM, 24h)")
    return text


def _thresholds(r: Reader) -> OpsThresholds:
    defaults = OpsThresholds()
    ratio = in_range(as_number, 0, 1)
    values = dict(
        p99_warning_seconds=r.value("p99_warning", as_latency, default=defaults.p99_warning_seconds),
        p99_critical_seconds=r.value("p99_critical", as_latency, default=defaults.p99_critical_seconds),
        memory_headroom_warning=r.value("memory_headroom_warning", ratio, default=defaults.memory_headroom_warning),
        throttle_for_seconds=r.value("throttle_for", as_duration, default=defaults.throttle_for_seconds),
        accuracy_warning=r.value("accuracy_warning", ratio, default=defaults.accuracy_warning),
        queue_time_warning_seconds=r.value("queue_time_warning", as_latency,
                                           default=defaults.queue_time_warning_seconds),
        no_traffic_for_seconds=r.value("no_traffic_for", as_duration, default=defaults.no_traffic_for_seconds),
    )
    if (values["p99_warning_seconds"] and values["p99_critical_seconds"]
            and values["p99_warning_seconds"] >= values["p99_critical_seconds"]):
        r.error(r.key_mark("p99_critical") if r.has("p99_critical") else r.mark,
                f"{r.path('p99_critical')}: must be above p99_warning")
    r.finish()
    return OpsThresholds(**{k: (getattr(defaults, k) if v is None else v) for k, v in values.items()})


def _margin(raw: Raw) -> str:
    value = raw.value
    if isinstance(value, bool):
        raise ValueError("must be a number or a percentage like \"5%\"")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("must not be negative")
        return raw.text if raw.text is not None else str(value)
    text = as_str(raw).strip()
    number = text[:-1] if text.endswith("%") else text
    try:
        if float(number) < 0 or float(number) != float(number):
            raise ValueError
    except ValueError:
        raise ValueError(f"{text!r} is not a number or a percentage like \"5%\"") from None
    return text


def _canary(r: Reader) -> Canary | None:
    metrics, names = [], set()
    for item, path, mark in r.items("metrics"):
        if isinstance(item, str):
            item_name, direction, margin, critical = item, "increase", "", False
        else:
            m = Reader(r.file, r.problems, item, path, mark)
            if not m.ok:
                continue
            item_name = m.value("name", as_nonempty_str)
            direction = m.value("direction", one_of("increase", "decrease"), default="increase")
            margin = m.value("margin", _margin, default="")
            critical = m.value("critical", as_bool, default=False)
            m.finish()
            if None in (item_name, direction, margin, critical):
                continue
        if item_name in names:
            r.error(mark, f"{path}: metric {item_name!r} is listed twice")
        names.add(item_name)
        metrics.append(CanaryMetric(item_name, direction, margin, critical))
    canary = Canary(
        label=r.value("label", as_label_name, default="version"),
        baseline=r.value("baseline", as_nonempty_str),
        canary=r.value("canary", as_nonempty_str),
        weight=r.value("weight", in_range(as_number, 0, 100, open_low=False), default=0.0),
        warmup_seconds=r.value("warmup", lambda raw: 0 if raw.value in ("0", 0) else as_duration(raw),
                               default=300),
        window_seconds=r.value("window", as_duration, default=1800),
        metrics=tuple(metrics),
    )
    if canary.baseline and canary.baseline == canary.canary:
        r.error(r.key_mark("canary"), f"{r.path('canary')}: the same as baseline")
    r.finish()
    if None in (canary.label, canary.baseline, canary.canary, canary.weight, canary.warmup_seconds,
                canary.window_seconds):
        return None
    return canary

