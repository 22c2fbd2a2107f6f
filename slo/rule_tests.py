"""Generated promtool unit tests of the SLO rules: ``OUT/tests/<service>-slo.yaml``.

For every per-model SLO (availability, latency from a histogram or from summary quantiles,
accuracy) the tests feed synthetic Triton or exporter series through the generated rules in
four scenarios: a healthy period (half the budget burn), a slow burn (2x: tickets only), a fast
burn (a full outage after a clean history, then recovery: pages fire and clear), and, where
configured, silence (the no-traffic alert) and low traffic (no page below ``min_events``).

Which alerts fire when is computed by ``slo.refmodel`` from the same input samples, never by
running the rules; the checked times are the moments an alert starts or stops firing and the
evaluation just before, so a rule that fires one evaluation early or late fails its test.
Custom (ratio, timeslice) SLIs are arbitrary PromQL over the user's own series; no inputs can
be synthesised for them in general, so `generate` says they have no generated test.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

from slo import refmodel
from slo.burnrate import decimal_text, detection_seconds, reset_seconds
from slo.durations import format_duration
from slo.generate import Options, Result
from slo.model import AvailabilitySLI, LatencySLI, Spec
from slo.rules import (
    NO_TRAFFIC_ALERT,
    SloPlan,
    budget_left_template,
    dump_yaml,
    evaluation_seconds,
    no_traffic_rule,
    rule_file_name,
    spec_groups,
)
from slo.sliexpr import GOLDEN_CORRECT, GOLDEN_TOTAL, TRITON_FAILURE, TRITON_SUCCESS, TRITON_SUMMARY, matches

STEP = 60  # the tests scrape and evaluate every minute
ANY_MODEL = ("model_a", "1")  # stands for "every model" when an SLO names none
REASONS = ("BACKEND", "OTHER", "REJECTED", "CANCELED")


@dataclass
class Series:
    labels: dict[str, str]  # with __name__
    values: list[float]

    def text(self) -> str:
        name = self.labels["__name__"]
        rest = ", ".join(f'{k}="{v}"' for k, v in self.labels.items() if k != "__name__")
        return f"{name}{{{rest}}}"


@dataclass
class Scenario:
    name: str
    series: list[Series]
    length: int  # samples
    checks: set[int] = field(default_factory=set)  # sample indices to check
    # (start, end) index ranges inside which an alert changes state at most once
    monotone: list[tuple[int, int]] = field(default_factory=list)


# --- inputs ----------------------------------------------------------------------------------


def _groups(p: SloPlan) -> list[tuple[str, str]]:
    models = p.spec.models_of(p.slo)
    if not models:
        return [ANY_MODEL]
    return [(m.name, v) for m in models for v in (m.versions or ("1",))]


def _counter(increments: list[int]) -> list[float]:
    """Samples of a counter that starts at zero and grows by ``increments[i]`` up to sample i."""
    values, total = [0.0], 0
    for inc in increments[1:]:
        total += inc
        values.append(float(total))
    return values


def _event_series(p: SloPlan, good: list[int], bad: list[int]) -> list[Series]:
    """Counters of one SLI kind for every model of the SLO: ``good`` and ``bad`` events per sample."""
    sli, service = p.slo.sli, p.spec.service
    total = [g + b for g, b in zip(good, bad, strict=True)]
    out = []
    for model, version in _groups(p):
        ids = {"model": model, "version": version}
        if isinstance(sli, AvailabilitySLI):
            base = {**service.triton_selector, **ids}
            reason = next((r for r in REASONS if r not in sli.exclude_reasons), "INTERNAL")
            failure = {"reason": reason} if sli.exclude_reasons else {}
            out.append(Series({"__name__": TRITON_SUCCESS, **base}, _counter(good)))
            out.append(Series({"__name__": TRITON_FAILURE, **base, **failure}, _counter(bad)))
            for excluded in sli.exclude_reasons[:1]:  # failures the SLO ignores: must not count
                out.append(Series({"__name__": TRITON_FAILURE, **base, "reason": excluded}, _counter(total)))
        elif isinstance(sli, LatencySLI):
            base = {**(service.exporter_selector if sli.metric.startswith("triton_slo_") else
                       service.triton_selector), **ids}
            bound = Decimal(repr(sli.threshold_seconds)) * {"s": 1, "ms": 1000, "us": 1000000}[sli.metric_unit]
            out.append(Series({"__name__": f"{sli.metric}_bucket", **base, "le": decimal_text(bound)},
                              _counter(good)))
            out.append(Series({"__name__": f"{sli.metric}_count", **base}, _counter(total)))
        else:  # accuracy
            base = {**service.exporter_selector, **ids}
            out.append(Series({"__name__": GOLDEN_CORRECT, **base}, _counter(good)))
            out.append(Series({"__name__": GOLDEN_TOTAL, **base}, _counter(total)))
    return out


def _summary_series(p: SloPlan, quantiles: list[float], requests: list[int]) -> list[Series]:
    sli, service = p.slo.sli, p.spec.service
    out = []
    for model, version in _groups(p):
        base = {**service.triton_selector, "model": model, "version": version}
        out.append(Series({"__name__": TRITON_SUMMARY, **base, "quantile": decimal_text(Decimal(repr(sli.quantile)))},
                          quantiles))
        out.append(Series({"__name__": TRITON_SUCCESS, **base}, _counter(requests)))
        out.append(Series({"__name__": TRITON_FAILURE, **base}, _counter([0] * len(requests))))
    return out


def _rate_per_sample(budget: Decimal) -> int:
    """Events per sample: enough that half the budget is a whole number of bad events."""
    return max(100, int(math.ceil(200 / float(budget))))


def _steps(seconds: float) -> int:
    return int(math.ceil(seconds / STEP))


def scenarios(p: SloPlan) -> list[Scenario]:
    budget = p.budget
    longest_page = max([t.long_window for t in p.tiers if t.severity == "critical"] or [p.base])
    clean = _steps(longest_page) + 1  # the Workbook's timings assume a full clean long window
    detect = [detection_seconds(t, budget, p.base, p.base) or 0 for t in p.tiers]
    resets = [reset_seconds(t, budget, p.base) or 0 for t in p.tiers if t.severity == "critical"]
    outage = _steps(max(detect or [0])) + 5
    recovery = _steps(max(resets or [p.base])) + 5
    fast_len = clean + outage + recovery
    out = []
    if p.queries.slices:
        limit = p.queries.slice_limit
        good, bad = limit / 2, limit * 2
        slice_steps = max(1, _steps(p.queries.slice_seconds))
        healthy = [math.nan if i % 7 == 3 else good for i in range(60)]  # NaN: no requests, not bad
        every = max(2, round((slice_steps + 1) / (2 * float(budget))))
        slow = [bad if i % every == 0 else good for i in range(max(120, 3 * every))]
        fast = [bad if clean <= i < clean + outage else good for i in range(fast_len)]
        out.append(Scenario("healthy", _summary_series(p, healthy, [100] * len(healthy)), len(healthy),
                            {30, len(healthy) - 1}))
        out.append(Scenario("slow burn", _summary_series(p, slow, [100] * len(slow)), len(slow),
                            {len(slow) // 2, len(slow) - 1}))
        out.append(Scenario("fast burn", _summary_series(p, fast, [100] * fast_len), fast_len,
                            {clean - 1, fast_len - 1}, [(clean, clean + outage), (clean + outage, fast_len)]))
        traffic = [100] * len(healthy)
    else:
        rate = _rate_per_sample(budget)
        half = int(round(rate * float(budget) / 2))
        double = int(round(rate * float(budget) * 2))
        n = 30
        out.append(Scenario("healthy", _event_series(p, [rate - half] * n, [half] * n), n, {15, n - 1}))
        n = 60
        out.append(Scenario("slow burn", _event_series(p, [rate - double] * n, [double] * n), n, {30, n - 1}))
        bad = [rate if clean <= i < clean + outage else 0 for i in range(fast_len)]
        good = [rate - b for b in bad]
        out.append(Scenario("fast burn", _event_series(p, good, bad), fast_len, {clean - 1, fast_len - 1},
                            [(clean, clean + outage), (clean + outage, fast_len)]))
        min_events = p.slo.alerting.min_events
        base_steps = max(1, p.base // STEP)
        if min_events > 0 and (min_events - 1) // base_steps >= 1:
            few = (min_events - 1) // base_steps  # fewer than min_events in the base window
            n = 30
            out.append(Scenario("low traffic", _event_series(p, [0] * n, [few] * n), n, {15, n - 1}))
        traffic = None
    silence_for = p.slo.alerting.no_traffic_for
    if silence_for and no_traffic_rule(p):
        busy, quiet = 30, _steps(silence_for) + 5
        n = busy + quiet
        if p.queries.slices:
            series = _summary_series(p, [p.queries.slice_limit / 2] * n, [100 if i < busy else 0 for i in range(n)])
        else:
            rate = _rate_per_sample(budget)
            series = _event_series(p, [rate if i < busy else 0 for i in range(n)], [0] * n)
        out.append(Scenario("silence", series, n, {busy - 1, n - 1}, [(busy, n)]))
    del traffic
    return out


# --- the reference model over the inputs -----------------------------------------------------


@dataclass(frozen=True)
class Firing:
    alertname: str
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...]


def _metric_names(p: SloPlan) -> set[str]:
    q = p.queries
    sets = q.errors_sets + q.good_sets + q.events_sets + q.slice_sets + q.traffic_sets
    return {v for s in sets for label, op, v in s if label == "__name__" and op == "="}


def _selected(sets: tuple, series: list[Series]) -> list[Series]:
    return [s for s in series if any(matches(s.labels, m) for m in sets)]


def _by_group(selected: list[Series]) -> dict[tuple[str, str], list[Series]]:
    groups: dict[tuple[str, str], list[Series]] = {}
    for s in selected:
        groups.setdefault((s.labels.get("model", ""), s.labels.get("version", "")), []).append(s)
    return groups


def _models(p: SloPlan, series: list[Series]) -> dict[tuple[str, str], refmodel.EventModel | refmodel.SliceModel]:
    """The reference model of each (model, version) an SLO selects from the inputs."""
    q = p.queries
    out: dict = {}
    if q.slices:
        for group, gauges in _by_group(_selected(q.slice_sets, series)).items():
            out[group] = refmodel.SliceModel([g.values for g in gauges], STEP, q.slice_seconds, q.slice_limit)
        return out
    events = _by_group(_selected(q.events_sets, series))
    errors = _by_group(_selected(q.errors_sets, series)) if q.errors_sets else {}
    good = _by_group(_selected(q.good_sets, series)) if q.good_sets else {}
    length = len(series[0].values)
    for group, counters in events.items():
        events_rate = refmodel.summed_rate([c.values for c in counters], STEP)
        if q.errors_sets:
            if group not in errors:
                continue
            errors_rate = refmodel.summed_rate([c.values for c in errors[group]], STEP)
        else:
            if group not in good:
                continue
            errors_rate = refmodel.difference_rate(events_rate, refmodel.summed_rate([c.values for c in good[group]],
                                                                                     STEP))
        out[group] = refmodel.EventModel(errors_rate, events_rate, length, STEP, p.base)
    return out


def _tiers(p: SloPlan) -> list[refmodel.Tier]:
    def window(seconds: int) -> refmodel.Window:
        return refmodel.Window(seconds, raw=p.raw_window(seconds) or p.queries.slices)
    return [refmodel.Tier(t.name, t.severity, t.factor, window(t.long_window), window(t.short_window))
            for t in p.tiers]


def humanize_percentage(value: float) -> str:
    return "%.4g%%" % (value * 100)


def _render(template: str, labels: dict[str, str], value: float, budget_left: str, p: SloPlan) -> str:
    """Our own alert templates, filled in as Prometheus does."""
    text = template.replace(budget_left_template(p), budget_left)
    text = text.replace('{{ printf "%.2f" $value }}', f"{value:.2f}")
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)


def _static_annotations_ok(p: SloPlan) -> bool:
    """User annotations we can fill in (``{{ $labels.x }}`` at most)."""
    rest = [re.sub(r"\{\{ \$labels\.\w+ \}\}", "", v) for v in p.slo.alerting.annotations.values()]
    return not any("{{" in v for v in rest)


def _annotations(rule: dict, render: Callable[[str], str]) -> tuple:
    return tuple(sorted((k, render(v)) for k, v in rule["annotations"].items()))


class SpecIndex:
    """The per-model SLOs of a spec, found by the series they read (a spec may hold thousands)."""

    def __init__(self, plans: list[SloPlan], rules: dict[str, list[dict]]) -> None:
        self.rules = rules
        self.by_key: dict[tuple[str, str], list[SloPlan]] = {}
        self.watching: list[tuple[SloPlan, dict]] = []
        for p in plans:
            if not p.queries.per_model:
                continue
            models = [m.name for m in p.spec.models_of(p.slo)] or ["*"]
            for name in _metric_names(p):
                for model in models:
                    self.by_key.setdefault((name, model), []).append(p)
            rule = next((r for r in rules[p.slo.name] if r.get("alert") == NO_TRAFFIC_ALERT), None)
            if rule is not None:
                self.watching.append((p, rule))

    def readers(self, series: list[Series]) -> list[SloPlan]:
        """SLOs that may read any of these series, in spec order."""
        found: dict[int, SloPlan] = {}
        for s in series:
            name, model = s.labels["__name__"], s.labels.get("model", "")
            for p in self.by_key.get((name, model), []) + self.by_key.get((name, "*"), []):
                found[id(p)] = p
        return list(found.values())


class Reference:
    """What the SLOs of a spec make fire, for one scenario's inputs and the alerts it checks."""

    def __init__(self, index: SpecIndex, scenario: Scenario, alertnames: list[str]) -> None:
        self.scenario = scenario
        self.burning, self.watching = [], []
        for p in index.readers(scenario.series):
            if p.alertname in alertnames:
                burn_rules = [r for r in index.rules[p.slo.name] if r.get("alert") == p.alertname]
                self.burning.append((p, burn_rules, _models(p, scenario.series), _tiers(p)))
        if NO_TRAFFIC_ALERT in alertnames:
            self.watching = index.watching

    def firing(self, index: int, annotate: bool = True) -> set[Firing]:
        out: set[Firing] = set()
        for p, burn_rules, models, tiers in self.burning:
            for group, model in models.items():
                series_labels = {**p.labels, "model": group[0], "version": group[1]}
                left = ""
                if annotate:
                    remaining = refmodel.budget_remaining(model, p.period, p.budget, index)
                    left = "unknown" if remaining is None else humanize_percentage(remaining)
                for tier, rule in zip(tiers, burn_rules, strict=True):
                    value = refmodel.fires(model, tier, p.budget, index, p.slo.alerting.min_events)
                    if value is None:
                        continue
                    labels = {**series_labels, **rule["labels"]}
                    annotations = _annotations(
                        rule, lambda t, lb=labels, v=value, b=left, sp=p: _render(t, lb, v, b, sp)) if annotate else ()
                    out.add(Firing(p.alertname, tuple(sorted(labels.items())), annotations))
        for p, rule in self.watching:
            out |= self._no_traffic(p, rule, index, annotate)
        return out

    def state_matrix(self, length: int) -> np.ndarray:
        """One row per (SLO, group, tier) or watched traffic: whether it fires at each sample."""
        rows = []
        for p, _, models, tiers in self.burning:
            for model in models.values():
                rows += [refmodel.fires_array(model, t, p.budget, length, p.slo.alerting.min_events) for t in tiers]
        for p, _ in self.watching:
            window = p.slo.alerting.no_traffic_for
            for counters in _by_group(_selected(p.queries.traffic_sets, self.scenario.series)).values():
                rows.append(refmodel.summed_rate([c.values for c in counters], STEP).array(window, length) == 0)
        return np.array(rows, dtype=bool).reshape(len(rows), length)

    def _no_traffic(self, p: SloPlan, rule: dict, index: int, annotate: bool) -> set[Firing]:
        out = set()
        window = p.slo.alerting.no_traffic_for
        selected = _selected(p.queries.traffic_sets, self.scenario.series)
        for group, counters in _by_group(selected).items():
            rate = refmodel.summed_rate([c.values for c in counters], STEP)(index, window)
            if rate is not None and rate == 0:
                out.add(self._no_traffic_firing(p, rule, {"model": group[0], "version": group[1]}, annotate))
        for matchers in p.queries.absent_sets:
            if not any(matches(s.labels, matchers) for s in self.scenario.series):
                out.add(self._no_traffic_firing(p, rule, {k: v for k, op, v in matchers if k != "__name__"}, annotate))
        return out

    def _no_traffic_firing(self, p: SloPlan, rule: dict, expr_labels: dict[str, str], annotate: bool) -> Firing:
        labels = {**expr_labels, **rule["labels"]}
        annotations = _annotations(rule, lambda t: _render(t, labels, 0.0, "", p)) if annotate else ()
        return Firing(NO_TRAFFIC_ALERT, tuple(sorted(labels.items())), annotations)


def check_points(ref: Reference, scenario: Scenario) -> list[int]:
    """The scenario's own checks plus every moment an alert starts or stops (and the one before)."""
    points = set(scenario.checks)
    states = ref.state_matrix(scenario.length)
    if states.shape[0]:
        changed = np.nonzero((states[:, 1:] != states[:, :-1]).any(axis=0))[0] + 1
        points |= {int(i) for i in changed} | {int(i) - 1 for i in changed}
    return sorted(i for i in points if 0 <= i < scenario.length)


# --- promtool test file ----------------------------------------------------------------------


def _values_text(values: list[float]) -> str:
    """promtool's series notation: runs of equal steps as ``a+bxn``."""
    parts, i, n = [], 0, len(values)
    while i < n:
        start = values[i]
        if math.isnan(start):
            j = i
            while j + 1 < n and math.isnan(values[j + 1]):
                j += 1
            parts.append("NaN" if j == i else f"NaNx{j - i}")
            i = j + 1
            continue
        if i + 1 < n and not math.isnan(values[i + 1]):
            step = values[i + 1] - start
            j = i + 1
            while j + 1 < n and not math.isnan(values[j + 1]) and values[j + 1] - values[j] == step:
                j += 1
            parts.append(f"{_num(start)}{'+' if step >= 0 else '-'}{_num(abs(step))}x{j - i}")
            i = j + 1
        else:
            parts.append(_num(start))
            i += 1
    return " ".join(parts)


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def _alert_tests(timeline: dict[int, set[Firing]], alertnames: list[str]) -> list[dict]:
    tests = []
    for index, firing in sorted(timeline.items()):
        for name in alertnames:
            exp = [{"exp_labels": dict(f.labels), "exp_annotations": dict(f.annotations)}
                   for f in sorted(firing, key=lambda f: f.labels) if f.alertname == name]
            tests.append({"eval_time": format_duration(index * STEP), "alertname": name, "exp_alerts": exp})
    return tests


@dataclass
class SpecTests:
    document: dict
    notes: list[str]
    # per SLO and scenario: sample index -> firing set (for the Python tests of this module)
    timelines: dict[tuple[str, str], dict[int, set[Firing]]]


def build_tests(spec: Spec, evaluation_interval: int) -> SpecTests:
    groups, plans = spec_groups(spec, evaluation_interval)
    rules = {p.slo.name: g["rules"] for p, g in zip(plans, groups, strict=True)}
    notes, tests, timelines = [], [], {}
    index = SpecIndex(plans, rules)
    custom_no_traffic = any(not p.queries.per_model and no_traffic_rule(p) for p in plans)
    for p in plans:
        where = f"{spec.service.name}/{p.slo.name}"
        if not p.queries.per_model:
            notes.append(f"{where}: no generated test (a {p.queries.kind} SLI reads the user's own series, "
                         "which cannot be synthesised in general); promtool check rules covers its syntax")
            continue
        if not _static_annotations_ok(p):
            notes.append(f"{where}: no generated test (its alert annotations use templates the tests cannot "
                         "fill in)")
            continue
        for scenario in scenarios(p):
            # Silence is where no-traffic alerts are checked (every SLO watching a model without
            # series in this test raises one); elsewhere the SLO's own burn-rate alert is.
            if scenario.name == "silence":
                names = [] if custom_no_traffic else [NO_TRAFFIC_ALERT]
            else:
                names = [p.alertname]
            ref = Reference(index, scenario, names)
            points = check_points(ref, scenario)
            timeline = timelines[(p.slo.name, scenario.name)] = {i: ref.firing(i) for i in points}
            tests.append({
                "name": f"{where}: {scenario.name}",
                "interval": format_duration(STEP),
                "input_series": [{"series": s.text(), "values": _values_text(s.values)} for s in scenario.series],
                "alert_rule_test": _alert_tests(timeline, names),
            })
    document = {
        "rule_files": [f"../rules/{rule_file_name(spec)}"],
        "evaluation_interval": format_duration(STEP),
        "tests": tests,
    }
    return SpecTests(document, notes, timelines)


def test_file_name(spec: Spec) -> str:
    return f"{spec.service.name}-slo.yaml"


def generate(specs: list[Spec], out: Path, options: Options) -> Result:
    result = Result()
    if options.target == "kubernetes":
        result.notes.append("SLO rule tests: not written for --target kubernetes (promtool reads plain rule files)")
        return result
    interval = evaluation_seconds(options)
    folder = out / "tests"
    folder.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        built = build_tests(spec, interval)
        result.notes.extend(built.notes)
        if not built.document["tests"]:
            continue
        path = folder / test_file_name(spec)
        path.write_text(f"# promtool test rules {path.name}  (generated by triton-slo; expectations from "
                        "slo/refmodel.py)\n" + dump_yaml(built.document))
        result.files.append(path)
    return result
