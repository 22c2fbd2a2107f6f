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

from dataclasses import dataclass
from decimal import Decimal

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
from triton_slo.durations import format_duration
from triton_slo.errors import UserError
from triton_slo.links import dashboard_url, runbook_url
from triton_slo.model import SLO, BurnRateTier, Spec
from triton_slo.names import (
    BAD_SLICE,
    BUDGET_REMAINING,
    CURRENT_BURN,
    ERROR_BUDGET,
    ERRORS,
    EVENTS,
    INFO,
    LABEL_SERVICE,
    LABEL_SEVERITY,
    LABEL_SLO,
    LABEL_TIER,
    OBJECTIVE,
    PERIOD_BURN,
    PERIOD_GROUP_SUFFIX,
    RATIO,
    RESERVED_LABELS,
    TICKET_SEVERITY,
    burn_alert_name,
    slo_group,
)
from triton_slo.names import NO_TRAFFIC as NO_TRAFFIC_ALERT
from triton_slo.promql import selector
from triton_slo.sliexpr import SliQueries, sli_queries

DEFAULT_BASE = 300  # 5m, when an SLO has no tiers at all
PERIOD_EVALUATIONS = 8  # the period rules run once every this many evaluations ...
PERIOD_INTERVAL_MAX = 240  # ... but at least every 4m: under Prometheus' 5m lookback delta


def period_interval(evaluation_interval: int) -> int:
    """Seconds between two evaluations of the period rules (never below the evaluation interval)."""
    return max(evaluation_interval, min(PERIOD_EVALUATIONS * evaluation_interval, PERIOD_INTERVAL_MAX))


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
        return {**self.spec.service.labels, **self.slo.labels, LABEL_SERVICE: self.spec.service.name,
                LABEL_SLO: self.slo.name}

    @property
    def match(self) -> str:
        """Selects this SLO's recorded series."""
        return selector([(LABEL_SERVICE, "=", self.spec.service.name), (LABEL_SLO, "=", self.slo.name)])

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
    return {**alerting.tier_labels(tier.severity), LABEL_SERVICE: p.spec.service.name, LABEL_SLO: p.slo.name,
            LABEL_SEVERITY: own.get(LABEL_SEVERITY, tier.severity), LABEL_TIER: tier.name}


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
        "labels": {**p.slo.alerting.labels, **p.labels, LABEL_SEVERITY: TICKET_SEVERITY},
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


# --- the rules of a spec ------------------------------------------------------------------


def group_name(p: SloPlan) -> str:
    return slo_group(p.spec.service.name, p.slo.name)


@dataclass(frozen=True)
class SloRules:
    """One SLO's plan and its rules: recorded at the evaluation interval, period rules, alerts."""

    plan: SloPlan
    recording: list[dict]
    period: list[dict]
    alerts: list[dict]


@dataclass(frozen=True)
class SpecRules:
    """Every SLO of a spec planned once, with its rules: what the rule file, its tests, the
    dashboards and the runbooks of a `generate` run all read (read-only)."""

    spec: Spec
    interval: int  # the evaluation interval, seconds
    slos: tuple[SloRules, ...]

    @property
    def plans(self) -> list[SloPlan]:
        return [s.plan for s in self.slos]

    def slo_groups(self) -> list[dict]:
        """Every rule of each SLO, one group per SLO in spec order, aligned with ``plans``."""
        return [{"name": group_name(s.plan), "rules": s.recording + s.period + s.alerts} for s in self.slos]

    def file_groups(self) -> list[dict]:
        """The groups of the rule file: per SLO, the rules run at the evaluation interval (with the
        alerts), then the period rules in a group of their own that runs every ``period_interval``."""
        groups = []
        every = period_interval(self.interval)
        for s in self.slos:
            groups.append({"name": group_name(s.plan), "rules": s.recording + s.alerts})
            period: dict = {"name": group_name(s.plan) + PERIOD_GROUP_SUFFIX}
            if every > self.interval:
                period["interval"] = format_duration(every)
            groups.append({**period, "rules": s.period})
        return groups


def spec_rules(spec: Spec, evaluation_interval: int) -> SpecRules:
    """Plan every SLO of a spec and write its rules (made once per run by the pipeline)."""
    slos = []
    for slo in spec.slos:
        p = plan(spec, slo, evaluation_interval)
        slos.append(SloRules(p, recording_rules(p), period_rules(p), alert_rules(p)))
    return SpecRules(spec, evaluation_interval, tuple(slos))
