"""SLO recording rules and multiwindow multi-burn-rate alerts: ``OUT/rules/<service>-slo.yaml``.

Two rule groups per SLO. What is recorded, per model (or per group of a custom SLI), in the
first, evaluated at the evaluation interval:

- the base window (the shortest alert window, 5m for 30 days) from the raw series: bad events
  ``slo:sli_errors:rate5m``, all events ``slo:sli_events:rate5m`` and their ratio;
- every window a *page* tier reads, from the raw series (exact detection times);
- the burn rate now; the alerts.

The second group (``<name>:period``) holds the period rules: the period ratio as a ratio of
sums of the base rates over the period (traffic-weighted: a quiet hour weighs what its traffic
weighs, and far cheaper than reading the raw series), the burn rate over the period and the
budget left. They read a whole period of samples, so they run less often (``interval``:
``period_interval``, 4m at the default 30s evaluation): a 30-day ratio moves by a negligible
amount in 4 minutes, and 4m stays under Prometheus' 5m lookback, so the series never go stale
between two evaluations (dashboards and the alerts' "budget left" always find them). Each long
range is read once per evaluation; the burn rate and the budget left reuse the recorded ratio.

Windows only ticket tiers read (2h, 1d, 3d for 30 days) are computed inline in their alert as a
ratio of sums of the base rates, and not recorded: fewer series than Sloth and a fraction of
its evaluation cost, at the price of a delay of half a base window in ticket detection (reported
by `generate`). Time-slice SLIs record a 0/1 bad-slice indicator and average it over windows.
A precomputed error ratio (``RatioSLI.error_ratio``, Sloth's ``sli.raw``) is the user's query
with each window filled in, recorded for every alert window (the user's query carries the
user's labels, so an inline window could not be matched with a recorded one); its period
ratio is the time average of the base-window ratio (no event counts to weigh it by), and
``min_events`` does not apply.

No ratio is written when a window saw no events (``/ (events > 0)``): no NaN, no Inf, and an
absent model is not "0 errors". Thresholds are exact decimals.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from triton_slo.burnrate import (
    TierReport,
    check_tiers,
    decimal_text,
    detection_seconds,
    exhaustion_seconds,
    reset_seconds,
    threshold,
    tiers_for,
)
from triton_slo.dashboards.links import dashboard_url
from triton_slo.durations import format_duration, parse_duration
from triton_slo.errors import UserError
from triton_slo.generate import Options, Result
from triton_slo.model import SLO, BurnRateTier, Spec
from triton_slo.runbooks import runbook_url
from triton_slo.sliexpr import SliQueries, quote, sli_queries

ERRORS = "slo:sli_errors:rate"
EVENTS = "slo:sli_events:rate"
RATIO = "slo:sli_error:ratio_rate"
BAD_SLICE = "slo:sli_slice_error:bool"
OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
CURRENT_BURN = "slo:current_burn_rate:ratio"
PERIOD_BURN = "slo:period_burn_rate:ratio"
BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"
INFO = "slo:info"
NO_TRAFFIC_ALERT = "TritonSloNoTraffic"
RESERVED_LABELS = ("service", "slo", "model", "version", "severity", "tier")
DEFAULT_BASE = 300  # 5m, when an SLO has no tiers at all
PERIOD_GROUP_SUFFIX = ":period"  # neither triton-slo slugs nor Sloth names hold a colon
PERIOD_EVALUATIONS = 8  # the period rules run once every this many evaluations ...
PERIOD_INTERVAL_MAX = 240  # ... but at least every 4m: under Prometheus' 5m lookback delta


def period_interval(evaluation_interval: int) -> int:
    """Seconds between two evaluations of the period rules (never below the evaluation interval)."""
    return max(evaluation_interval, min(PERIOD_EVALUATIONS * evaluation_interval, PERIOD_INTERVAL_MAX))


def burn_alert_name(alert_kind: str) -> str:
    return f"TritonSlo{alert_kind}BudgetBurn"


@dataclass(frozen=True)
class SloPlan:
    """Everything the rules, the tests and `status` derive from one SLO."""

    spec: Spec
    slo: SLO
    queries: SliQueries
    tiers: tuple[BurnRateTier, ...]
    base: int  # seconds of the base window
    recorded: tuple[int, ...]  # windows with a recorded ratio (base and page windows), ascending
    period: int

    @property
    def labels(self) -> dict[str, str]:
        """Labels on every series of the SLO (extra spec labels first: service and slo win)."""
        return {**self.spec.service.labels, **self.slo.labels, "service": self.spec.service.name,
                "slo": self.slo.name}

    @property
    def match(self) -> str:
        """Selects this SLO's recorded series."""
        return f"{{service={quote(self.spec.service.name)}, slo={quote(self.slo.name)}}}"

    @property
    def budget(self) -> Decimal:
        return self.slo.error_budget

    @property
    def alertname(self) -> str:
        return burn_alert_name(self.queries.alert_kind)

    def raw_window(self, window: int) -> bool:
        """Whether a window's ratio is read from the raw series (else from base-rate sums)."""
        return window in self.recorded or self.queries.precomputed

    def ratio_expr(self, window: int) -> str:
        """The error ratio over a window, as the alerts read it (fresh at every evaluation: not
        from the period group, which runs less often)."""
        w = format_duration(window)
        if window in self.recorded:
            return f"{RATIO}{w}{self.match}"
        if self.queries.slices:
            return f"avg_over_time({BAD_SLICE}{self.match}[{w}])"
        if self.queries.error_ratio is not None:
            return self.queries.error_ratio(window)
        b = format_duration(self.base)
        return (f"sum_over_time({ERRORS}{b}{self.match}[{w}])"
                f" / (sum_over_time({EVENTS}{b}{self.match}[{w}]) > 0)")

    def events_expr(self, window: int) -> str:
        """About how many events a window saw (for the minimum-traffic guard)."""
        b = format_duration(self.base)
        if window == self.base:
            return f"{EVENTS}{b}{self.match} * {self.base}"
        return f"avg_over_time({EVENTS}{b}{self.match}[{format_duration(window)}]) * {window}"


def plan(spec: Spec, slo: SLO, evaluation_interval: int = 30) -> SloPlan:
    if slo.error_budget <= 0:
        raise UserError(f"{spec.path or spec.service.name}: SLO {slo.name!r}: objective {slo.objective} "
                        "leaves no error budget")
    tiers = tiers_for(slo)
    windows = [w for t in tiers for w in (t.long_window, t.short_window) if w > 0]
    base = min(windows) if windows else DEFAULT_BASE
    page_windows = {w for t in tiers if t.severity == "critical" for w in (t.long_window, t.short_window) if w > 0}
    queries = sli_queries(spec, slo, evaluation_interval)
    if queries.precomputed:
        # The user's query carries the user's labels, not the SLO's: an alert window computed
        # inline would never match a recorded one in `and`. Every window is recorded.
        page_windows = set(windows)
    recorded = tuple(sorted({base, *page_windows} - {slo.window.seconds}))
    return SloPlan(spec, slo, queries, tiers, base, recorded, slo.window.seconds)


# --- recording rules -------------------------------------------------------------------------


def _record(name: str, expr: str, labels: dict[str, str]) -> dict:
    return {"record": name, "expr": expr, "labels": dict(labels)}


def recording_rules(p: SloPlan) -> list[dict]:
    """The rules evaluated at the evaluation interval (everything but the period rules)."""
    q, labels, match = p.queries, p.labels, p.match
    b = format_duration(p.base)
    budget = decimal_text(p.budget)
    rules = []
    if q.slices:
        rules.append(_record(BAD_SLICE, q.bad_slice, labels))
        for window in p.recorded:
            w = format_duration(window)
            rules.append(_record(f"{RATIO}{w}", f"avg_over_time({BAD_SLICE}{match}[{w}])", labels))
    elif q.error_ratio is not None:
        for window in p.recorded:
            rules.append(_record(f"{RATIO}{format_duration(window)}", q.error_ratio(window), labels))
    else:
        rules.append(_record(f"{ERRORS}{b}", q.errors(p.base), labels))
        rules.append(_record(f"{EVENTS}{b}", q.events(p.base), labels))
        rules.append(_record(f"{RATIO}{b}", f"{ERRORS}{b}{match} / ({EVENTS}{b}{match} > 0)", labels))
        for window in p.recorded:
            if window == p.base:
                continue
            rules.append(_record(f"{RATIO}{format_duration(window)}",
                                 f"{q.errors(window)}\n/\n({q.events(window)} > 0)", labels))
    rules += [
        _record(OBJECTIVE, f"vector({decimal_text(p.slo.objective_ratio)})", labels),
        _record(ERROR_BUDGET, f"vector({budget})", labels),
        _record(INFO, "vector(1)", {**labels, "objective": decimal_text(p.slo.objective),
                                    "window": p.slo.window.text, "sli_kind": q.kind}),
        _record(CURRENT_BURN, f"{RATIO}{b}{match} / {budget}", labels),
    ]
    return rules


def period_rules(p: SloPlan) -> list[dict]:
    """The period ratio, the burn rate over the period and the budget left: one long read each
    of what the first group records, then reused."""
    q, labels, match = p.queries, p.labels, p.match
    b = format_duration(p.base)
    period = format_duration(p.period)
    if q.slices:
        ratio = f"avg_over_time({BAD_SLICE}{match}[{period}])"
    elif q.error_ratio is not None:
        # No event counts to weigh by: the time average of the base-window ratio (as Sloth does).
        ratio = f"avg_over_time({RATIO}{b}{match}[{period}])"
    else:
        ratio = f"sum_over_time({ERRORS}{b}{match}[{period}])\n/\n(sum_over_time({EVENTS}{b}{match}[{period}]) > 0)"
    return [
        _record(f"{RATIO}{period}", ratio, labels),
        _record(PERIOD_BURN, f"{RATIO}{period}{match} / {decimal_text(p.budget)}", labels),
        _record(BUDGET_REMAINING, f"1 - {PERIOD_BURN}{match}", labels),
    ]


# --- alerts ----------------------------------------------------------------------------------


def tier_expr(p: SloPlan, tier: BurnRateTier) -> str:
    """Long and short window over the threshold (and enough events); the value is the long burn rate."""
    limit = decimal_text(threshold(tier.factor, p.budget))
    parts = [
        f"(({p.ratio_expr(tier.long_window)}) > {limit}) / {decimal_text(p.budget)}",
        f"({p.ratio_expr(tier.short_window)}) > {limit}",
    ]
    if p.slo.alerting.min_events > 0 and p.queries.events is not None:
        parts.append(f"{p.events_expr(tier.short_window)} >= {p.slo.alerting.min_events}")
    return "(\n  " + "\nand\n  ".join(parts) + "\n)"


def budget_left_template(p: SloPlan) -> str:
    """Go template text that looks up the budget left of the alerting series."""
    keys = ["service", "slo", *p.queries.group_labels]
    fmt = ",".join(f"{k}=%q" for k in keys)
    args = " ".join(f"$labels.{k}" if k.isidentifier() else f'(index $labels "{k}")' for k in keys)
    return (f'{{{{ with printf "{BUDGET_REMAINING}{{{fmt}}}" {args} | query }}}}'
            "{{ . | first | value | humanizePercentage }}{{ else }}unknown{{ end }}")


def subject(p: SloPlan) -> str:
    """Who the alert is about, as Go template text (model and version where per model)."""
    base = f"{p.spec.service.name}/{p.slo.name}"
    if p.queries.per_model:
        return base + " model {{ $labels.model }} version {{ $labels.version }}"
    labels = " ".join(f"{k}={{{{ $labels.{k} }}}}" for k in p.queries.group_labels if k.isidentifier())
    return f"{base} {labels}".rstrip()


def tier_description(p: SloPlan, tier: BurnRateTier) -> str:
    return (
        f"{subject(p)}: error budget burns at {{{{ printf \"%.2f\" $value }}}}x over "
        f"{format_duration(tier.long_window)} (this alert fires above {decimal_text(tier.factor)}x, "
        f"confirmed over {format_duration(tier.short_window)}); budget left in the "
        f"{p.slo.window.text} window: {budget_left_template(p)}."
    )


def _annotations(p: SloPlan, alertname: str, summary: str, description: str,
                 user: dict[str, str] | None = None) -> dict[str, str]:
    service = p.spec.service
    return {
        "summary": summary,
        "description": description,
        "runbook_url": p.slo.alerting.runbook_url or runbook_url(service.runbook_base_url, alertname),
        "dashboard_url": dashboard_url(service, alertname),
        **(p.slo.alerting.annotations if user is None else user),
    }


def tier_labels(p: SloPlan, tier: BurnRateTier) -> dict[str, str]:
    """The labels of a tier's alert. A ``severity`` among the page or ticket labels stays as the
    user wrote it (Sloth's page_alert/ticket_alert); ``alerts.alertmanager`` routes that value."""
    alerting = p.slo.alerting
    own = alerting.page_labels if tier.severity == "critical" else alerting.ticket_labels
    return {**alerting.tier_labels(tier.severity), "service": p.spec.service.name, "slo": p.slo.name,
            "severity": own.get("severity", tier.severity), "tier": tier.name}


def tier_summary(p: SloPlan, tier: BurnRateTier) -> str:
    return (f"SLO {p.slo.name} of {p.spec.service.name} burns its error budget "
            f"{decimal_text(tier.factor)}x too fast ({tier.name})")


def alert_rules(p: SloPlan) -> list[dict]:
    rules = []
    for tier in p.tiers:
        rules.append({
            "alert": p.alertname,
            "expr": tier_expr(p, tier),
            "labels": tier_labels(p, tier),
            "annotations": _annotations(p, p.alertname, tier_summary(p, tier), tier_description(p, tier),
                                        p.slo.alerting.tier_annotations(tier.severity)),
        })
    no_traffic = no_traffic_rule(p)
    if no_traffic:
        rules.append(no_traffic)
    return rules


def no_traffic_expr(p: SloPlan) -> str:
    window = p.slo.alerting.no_traffic_for
    q = p.queries
    parts = [f"({q.traffic(window)}) == 0"]
    parts += [f"absent_over_time({s}[{format_duration(window)}])" for s in q.absent_selectors]
    return "\nor\n".join(parts)


def no_traffic_rule(p: SloPlan) -> dict | None:
    window = p.slo.alerting.no_traffic_for
    if window <= 0 or p.queries.traffic is None:
        return None
    who = subject(p) if p.queries.per_model else f"{p.spec.service.name}/{p.slo.name}"
    return {
        "alert": NO_TRAFFIC_ALERT,
        "expr": no_traffic_expr(p),
        "labels": {**p.slo.alerting.labels, **p.labels, "severity": "warning"},
        "annotations": _annotations(
            p, NO_TRAFFIC_ALERT,
            f"SLO {p.slo.name} of {p.spec.service.name} has seen no traffic",
            f"{who}: no requests in the last {format_duration(window)}; the SLO cannot be measured "
            "and burn-rate alerts stay silent while it lasts.",
        ),
    }


# --- reports and checks ----------------------------------------------------------------------


def tier_reports(p: SloPlan) -> list[TierReport]:
    reports = []
    for tier in p.tiers:
        long_base = 0 if p.raw_window(tier.long_window) or p.queries.slices else p.base
        short_base = 0 if p.raw_window(tier.short_window) or p.queries.slices else p.base
        reports.append(TierReport(
            tier=tier,
            threshold=threshold(tier.factor, p.budget),
            detection=detection_seconds(tier, p.budget, long_base, short_base),
            reset=reset_seconds(tier, p.budget, short_base),
            exhaustion=exhaustion_seconds(tier.factor, p.period),
        ))
    return reports


def static_warnings(p: SloPlan, evaluation_interval: float) -> list[str]:
    where = f"{p.spec.service.name}/{p.slo.name}"
    warnings = [f"{p.spec.service.name}/{w}" for w in check_tiers(p.slo, p.tiers, evaluation_interval)]
    if not p.tiers:
        warnings.append(f"{where}: no burn-rate alert (page and ticket are both off)")
    if p.slo.window.calendar:
        warnings.append(f"{where}: the calendar {p.slo.window.text} is recorded as a rolling "
                        f"{format_duration(p.period)} window (`status` reports the calendar month)")
    if p.slo.alerting.min_events and p.queries.events is None:
        what = "a precomputed error ratio" if p.queries.precomputed else "a time-slice SLI"
        warnings.append(f"{where}: min_events counts requests and does not apply to {what}")
    if p.slo.alerting.no_traffic_for and p.queries.traffic is None:
        warnings.append(f"{where}: no_traffic_for needs a request count; a {p.queries.kind} SLI has none")
    alerting = p.slo.alerting
    clashes = sorted(set(p.spec.service.labels) | set(p.slo.labels) | set(alerting.labels)
                     | (set(alerting.page_labels) | set(alerting.ticket_labels)) - {"severity"})
    for label in (c for c in clashes if c in RESERVED_LABELS):
        warnings.append(f"{where}: label {label!r} of the spec is overridden by the generated {label!r} label")
    return warnings


def static_notes(p: SloPlan) -> list[str]:
    notes = []
    alerting = p.slo.alerting
    for what, labels, ours in (("page", alerting.page_labels, "critical"),
                               ("ticket", alerting.ticket_labels, "warning")):
        if labels.get("severity", ours) != ours:
            notes.append(f"{what} alerts carry severity {labels['severity']!r} as the spec says; alertmanager.yaml "
                         f"routes that value as a {what}")
    if p.queries.precomputed:
        notes.append(f"a precomputed error ratio: the {format_duration(p.period)} ratio is the time average of the "
                     f"{format_duration(p.base)} ratio (not traffic-weighted: there are no event counts), and "
                     "values outside 0..1 (NaN when nothing was measured) are left out")
    return notes


# --- the generator ---------------------------------------------------------------------------


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/ -]*")
_NOT_PLAIN = re.compile(r"(?i)^(true|false|yes|no|on|off|null|y|n)$|[ :]$| #|: ")


def _scalar(value: object) -> str:
    """A YAML scalar: plain where unambiguous, else JSON-quoted (JSON strings are YAML strings)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and not _NOT_PLAIN.search(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _emit(value: object, indent: str, out: list[str]) -> None:
    """Block-style YAML for dicts, lists and scalars; multi-line strings as literal blocks."""
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        head = f"{indent}{_scalar(key)}:" if isinstance(value, dict) else f"{indent}-"
        if isinstance(item, (dict, list)) and item:
            if isinstance(value, dict):
                out.append(head + "\n")
                _emit(item, indent + "  ", out)
            else:  # a list item starts on the dash line
                sub: list[str] = []
                _emit(item, indent + "  ", sub)
                out.append(head + " " + sub[0][len(indent) + 2:])
                out.extend(sub[1:])
        elif isinstance(item, (dict, list)):
            out.append(f"{head} {'{}' if isinstance(item, dict) else '[]'}\n")
        elif isinstance(item, str) and "\n" in item and not item.endswith("\n") and "\t" not in item \
                and not item.startswith(" "):
            body = "".join(f"{indent}  {line}\n" if line else "\n" for line in item.split("\n"))
            out.append(f"{head} |-\n{body}")
        else:
            out.append(f"{head} {_scalar(item)}\n")


# The first line of every YAML file written with ``dump_yaml`` (runbooks/generate.py reads such
# files back by line, knowing their layout from it).
FILE_HEADER = "# Generated by triton-slo from {source}; edit the spec, not this file.\n"


def dump_yaml(document: dict) -> str:
    """YAML text of a rule or test document (fast: thousands of SLOs are written in well under a second).

    Block style for dicts and lists, a list item's first entry on its dash line, multi-line strings
    as literal blocks, other scalars as ``_scalar`` writes them (each distinct string worked out once).
    """
    out: list[str] = []
    emit = out.append
    known: dict[str, str] = {}

    def scalar(value: object) -> str:
        if type(value) is not str:
            return _scalar(value)
        text = known.get(value)
        if text is None:
            text = known[value] = _scalar(value)
        return text

    def block(value: dict | list, indent: str, lead: str) -> None:
        # ``lead`` starts the first line: ``indent``, or the dash of the list item holding ``value``
        is_dict = isinstance(value, dict)
        deeper = indent + "  "
        for key, item in value.items() if is_dict else enumerate(value):
            head = (lead + scalar(key) + ":") if is_dict else (lead + "-")
            lead = indent
            if isinstance(item, (dict, list)):
                if not item:
                    emit(f"{head} {'{}' if isinstance(item, dict) else '[]'}\n")
                elif is_dict:
                    emit(head + "\n")
                    block(item, deeper, deeper)
                else:
                    block(item, deeper, head + " ")
            elif isinstance(item, str) and "\n" in item and not item.endswith("\n") and "\t" not in item \
                    and not item.startswith(" "):
                body = "".join(f"{deeper}{line}\n" if line else "\n" for line in item.split("\n"))
                emit(f"{head} |-\n{body}")
            else:
                emit(f"{head} {scalar(item)}\n")

    block(document, "", "")
    return "".join(out)


def group_name(p: SloPlan) -> str:
    return f"triton-slo-{p.spec.service.name}-{p.slo.name}"


@dataclass
class _Planned:
    spec: Spec
    interval: int
    slos: list[tuple[SloPlan, list[dict], list[dict], list[dict]]]  # plan, recording, period, alert rules


_LAST_PLANNED: list[_Planned] = []  # the last spec's rules: the rule file and its tests read them both


def _planned(spec: Spec, evaluation_interval: int) -> list[tuple[SloPlan, list[dict], list[dict], list[dict]]]:
    """Each SLO's plan and rules, made once for a spec (read-only for the callers)."""
    if _LAST_PLANNED and _LAST_PLANNED[0].spec is spec and _LAST_PLANNED[0].interval == evaluation_interval:
        return _LAST_PLANNED[0].slos
    slos = []
    for slo in spec.slos:
        p = plan(spec, slo, evaluation_interval)
        slos.append((p, recording_rules(p), period_rules(p), alert_rules(p)))
    _LAST_PLANNED[:] = [_Planned(spec, evaluation_interval, slos)]
    return slos


def spec_groups(spec: Spec, evaluation_interval: int) -> tuple[list[dict], list[SloPlan]]:
    """Every rule of each SLO, one entry per SLO in spec order, aligned with the plans.

    The rule file splits each entry in two (``rule_groups``); this is the whole set per SLO.
    """
    groups, plans = [], []
    for p, recording, period, alerts in _planned(spec, evaluation_interval):
        plans.append(p)
        groups.append({"name": group_name(p), "rules": recording + period + alerts})
    return groups, plans


def rule_groups(spec: Spec, evaluation_interval: int) -> tuple[list[dict], list[SloPlan]]:
    """The groups of the rule file: per SLO, the rules run at the evaluation interval (with the
    alerts), then the period rules in a group of their own that runs every ``period_interval``."""
    groups, plans = [], []
    every = period_interval(evaluation_interval)
    for p, recording, period_rules_of_p, alerts in _planned(spec, evaluation_interval):
        plans.append(p)
        groups.append({"name": group_name(p), "rules": recording + alerts})
        period: dict = {"name": group_name(p) + PERIOD_GROUP_SUFFIX}
        if every > evaluation_interval:
            period["interval"] = format_duration(every)
        groups.append({**period, "rules": period_rules_of_p})
    return groups, plans


def rule_file_name(spec: Spec) -> str:
    return f"{spec.service.name}-slo.yaml"


def _kubernetes(spec: Spec, groups: list[dict]) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": f"{spec.service.name}-slo",
                     "labels": {"app.kubernetes.io/part-of": "triton-slo", "triton-slo/service": spec.service.name}},
        "spec": {"groups": groups},
    }


def _period_header(evaluation_interval: int) -> str:
    every = period_interval(evaluation_interval)
    if every <= evaluation_interval:
        return ""
    return (f"# Groups named '...{PERIOD_GROUP_SUFFIX}' (period ratio, period burn rate, budget left) run every "
            f"{format_duration(every)}\n# (`interval`), the others every {format_duration(evaluation_interval)}: "
            "the period rules read a whole SLO period of samples,\n# and stay under Prometheus' 5m lookback, "
            "so their series never go stale.\n")


def evaluation_seconds(options: Options) -> int:
    try:
        seconds = parse_duration(options.evaluation_interval)
    except ValueError as exc:
        raise UserError(f"--evaluation-interval: {exc}") from None
    if seconds <= 0:
        raise UserError(f"--evaluation-interval {options.evaluation_interval!r}: must be longer than 0s")
    return max(1, int(seconds))


def generate(specs: list[Spec], out: Path, options: Options) -> Result:
    result = Result()
    interval = evaluation_seconds(options)
    folder = out / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        groups, plans = rule_groups(spec, interval)
        document = _kubernetes(spec, groups) if options.target == "kubernetes" else {"groups": groups}
        path = folder / rule_file_name(spec)
        path.write_text(FILE_HEADER.format(source=spec.path or spec.service.name) + _period_header(interval)
                        + dump_yaml(document))
        result.files.append(path)
        every = period_interval(interval)
        if every > interval and plans:
            result.notes.append(f"{path.name}: the period rules (groups '...{PERIOD_GROUP_SUFFIX}') run every "
                                f"{format_duration(every)}, the other SLO rules every {format_duration(interval)}")
        for p in plans:
            where = f"{spec.service.name}/{p.slo.name}"
            result.warnings.extend(static_warnings(p, interval))
            result.notes.extend(f"{where}: {note}" for note in (*p.queries.notes, *static_notes(p)))
            result.notes.extend(f"{where}: {report.text()}" for report in tier_reports(p))
    return result
