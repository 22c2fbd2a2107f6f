"""`triton-slo canary --prometheus URL`: pull both arms from Prometheus and judge them.

Counts are whole-window ``increase()`` of counters per arm over the same (concurrent) window;
latency means come from Triton's cumulative duration and request counters in ``--slices``
non-overlapping sub-windows (``increase(x[S])`` evaluated every S), paired by time, so overlapping
``rate()`` points are never treated as independent samples. The first ``warmup`` after the canary's
first sample is left out. Every query is printed with the metric it feeds.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
from triton_slo import names
from triton_slo.canary.judge import EXIT_CODES, Counts, MetricInput, Samples, Watch, judge, resolve_config
from triton_slo.canary.report import Output, emit
from triton_slo.durations import flag_duration
from triton_slo.errors import UserError
from triton_slo.model import Canary, CanaryMetric, LatencySLI, Spec
from triton_slo.promapi import PromAPI
from triton_slo.readers import load_spec

DEFAULT_METRICS = (CanaryMetric("error_ratio", critical=True), CanaryMetric("latency", margin="10%", critical=True))

# Counters per metric kind: (bad, total) or (sum, count) PromQL with {SEL} for the arm's matchers.
TRITON_FAILURE = names.TRITON_REQUEST_FAILURE + "{SEL}"
TRITON_SUCCESS = names.TRITON_REQUEST_SUCCESS + "{SEL}"
TRITON_DURATION_US = names.TRITON_REQUEST_DURATION_US + "{SEL}"
GOLDEN_TOTAL = names.GOLDEN_TOTAL + "{SEL}"
GOLDEN_CORRECT = names.GOLDEN_CORRECT + "{SEL}"
GOLDEN_NONFINITE = names.GOLDEN_NONFINITE + "{SEL}"
PROBE_BUCKET = names.PROBE_LATENCY + '_bucket{SEL,le="LE"}'
PROBE_COUNT = names.PROBE_LATENCY + "_count{SEL}"


def selector(text: str, what: str) -> str:
    """Label matchers without braces (``model="a",version="2"``), checked by Prometheus' rules."""
    inner = text.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1].strip()
    if not inner:
        raise UserError(f"{what}: empty selector; give label matchers like model=\"resnet_deep\"")
    depth, quote = 0, ""
    for ch in inner:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'`":
            quote = ch
        elif ch in "{}()[]":
            raise UserError(f"{what} {text!r}: expected label matchers like model=\"resnet_deep\", not {ch!r}")
    if quote or depth:
        raise UserError(f"{what} {text!r}: unbalanced quotes")
    return inner


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    slices: int

    @property
    def seconds(self) -> int:
        return int(self.end - self.start)

    @property
    def slice_seconds(self) -> int:
        return max(1, self.seconds // self.slices)


class Puller:
    """Queries per arm: whole-window increases, per-slice increases, resets and presence."""

    def __init__(self, api: PromAPI, selectors: dict[str, str]) -> None:
        self.api = api
        self.selectors = selectors
        self.queries: list[str] = []

    def _expr(self, template: str, arm: str) -> str:
        return template.replace("SEL", self.selectors[arm])

    def increase(self, template: str, arm: str, window: Window) -> float | None:
        """sum(increase(...[window])) at the window's end; None when no series matched (absent)."""
        expr = f"sum(increase({self._expr(template, arm)}[{window.seconds}s]))"
        self.queries.append(f"{expr} @ {window.end:.0f}")
        samples = self.api.query(expr, window.end)
        if not samples or not math.isfinite(samples[0].value):
            return None
        return max(samples[0].value, 0.0)

    def resets(self, template: str, arm: str, window: Window) -> int:
        expr = f"sum(resets({self._expr(template, arm)}[{window.seconds}s]))"
        samples = self.api.query(expr, window.end)
        return int(samples[0].value) if samples and math.isfinite(samples[0].value) else 0

    def sliced(self, template: str, arm: str, window: Window) -> np.ndarray | None:
        """Per-slice increases (non-overlapping: the range equals the step), aligned to the window."""
        s = window.slice_seconds
        expr = f"sum(increase({self._expr(template, arm)}[{s}s]))"
        first = window.start + s
        last = window.start + s * window.slices
        self.queries.append(f"{expr} every {s}s from {first:.0f} to {last:.0f}")
        series = self.api.query_range(expr, first, last, s)
        if not series:
            return None
        values = np.full(window.slices, np.nan)
        for t, v in series[0].points:
            i = int(round((t - first) / s))
            if 0 <= i < window.slices:
                values[i] = v
        return values

    def first_seen(self, template: str, arm: str, since: float, until: float) -> float | None:
        step = max(1.0, (until - since) / 500)
        series = self.api.query_range(f"sum({self._expr(template, arm)})", since, until, step)
        points = [t for s in series for t, v in s.points if math.isfinite(v)]
        return min(points) if points else None


def _counts_metric(puller: Puller, cfg, bad_tpl: str, total_tpl: str, window: Window,
                   bad_is_good: bool = False, add_bad_to_total: bool = False, srm: bool = False) -> MetricInput:
    """Whole-window increases per arm; ``srm``: the arm sizes follow the traffic split (Triton's own
    request counters do; the exporter's probes and golden set reach both arms equally by design)."""
    arms, notes = {}, []
    before = len(puller.queries)
    for arm in ("baseline", "canary"):
        bad = puller.increase(bad_tpl, arm, window)
        total = puller.increase(total_tpl, arm, window)
        if total is None:
            arms[arm] = None
            continue
        bad = 0.0 if bad is None else bad  # a failure counter that never fired can be absent
        if bad_is_good:
            bad = max(total - bad, 0.0)
        if add_bad_to_total:
            total += bad
        if not total < MAX_EVENTS:
            raise UserError(f"canary metric {cfg.name!r}: {arm}: {total:g} events in the window is not an event "
                            f"count (from {puller.queries[-1]!r})")
        # increase() extrapolates to the window's edges; tests take whole events.
        arms[arm] = (np.array([float(round(bad))]), np.array([float(round(total))]))
        resets = puller.resets(total_tpl, arm, window)
        if resets:
            notes.append(f"{arm}: {resets} counter resets in the window (restarts); increase() bridges them")
    return MetricInput(cfg, Counts(arms["baseline"], arms["canary"]), tuple(puller.queries[before:]), tuple(notes),
                       srm=srm)


def _latency_metric(puller: Puller, cfg, window: Window) -> MetricInput:
    before = len(puller.queries)
    means = {}
    for arm in ("baseline", "canary"):
        duration = puller.sliced(TRITON_DURATION_US, arm, window)
        count = puller.sliced(TRITON_SUCCESS, arm, window)
        if duration is None or count is None:
            means[arm] = None
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            means[arm] = duration / count / 1000.0  # ms per request in each slice
    notes = []
    if means["baseline"] is not None and means["canary"] is not None:
        keep = np.isfinite(means["baseline"]) & np.isfinite(means["canary"])
        if not keep.all():
            notes.append(f"{int((~keep).sum())} of {window.slices} slices without requests in an arm were left out")
        means = {arm: v[keep] for arm, v in means.items()}
    data = Samples(*(None if means[a] is None else means[a][None, :] for a in ("baseline", "canary")))
    notes.append(f"mean latency per request (ms) in {window.slices} time-paired slices of {window.slice_seconds}s")
    return MetricInput(cfg, data, tuple(puller.queries[before:]), tuple(notes), srm=False)


def _threshold(spec: Spec | None) -> float | None:
    for slo in spec.slos if spec else ():
        if isinstance(slo.sli, LatencySLI):
            return slo.sli.threshold_seconds
    return None


def collect(puller: Puller, metrics: tuple[CanaryMetric, ...], window: Window, spec: Spec | None) -> list[MetricInput]:
    inputs: list[MetricInput] = []
    for metric in metrics:
        fields = {"direction": metric.direction, "critical": metric.critical}
        if metric.margin:
            fields["margin"] = metric.margin
        kind = resolve_config(metric.name).kind
        where = f"canary metric {metric.name!r}"
        if kind == "error_ratio":
            cfg = resolve_config(metric.name, fields, counts=True, where=where)
            inputs.append(_counts_metric(puller, cfg, TRITON_FAILURE, TRITON_SUCCESS, window, add_bad_to_total=True,
                                             srm=True))
        elif kind == "latency":
            cfg = resolve_config(metric.name, fields, {"paired": True, "quantile": False}, where=where)
            inputs.append(_latency_metric(puller, cfg, window))
            threshold = _threshold(spec)
            if threshold is not None:
                name = f"{metric.name}_over_{threshold * 1000:g}ms"
                sub = resolve_config(name, {"kind": "error_ratio", "critical": metric.critical,
                                            "margin": "0.01"}, counts=True, where=where)
                bucket = PROBE_BUCKET.replace("LE", _le(threshold))
                inputs.append(_counts_metric(puller, sub, bucket, PROBE_COUNT, window, bad_is_good=True))
        elif kind == "accuracy":
            cfg = resolve_config(metric.name, {**fields, "direction": "increase"}, counts=True, where=where)
            inputs.append(_counts_metric(puller, cfg, GOLDEN_CORRECT, GOLDEN_TOTAL, window, bad_is_good=True))
        elif kind == "nonfinite":
            cfg = resolve_config(metric.name, fields, counts=True, where=where)
            inputs.append(_counts_metric(puller, cfg, GOLDEN_NONFINITE, GOLDEN_TOTAL, window))
        else:
            # No per-version series exists for it (GPU memory is per GPU, not per model version):
            # say so and leave it INCONCLUSIVE rather than invent a number or drop it silently.
            cfg = resolve_config(metric.name, fields, where=where)
            inputs.append(MetricInput(cfg, Samples(None, None), notes=(
                f"{metric.name}: no per-version series to judge it online (known: error_ratio, latency, "
                "accuracy, nonfinite); judge it offline with `triton-slo canary judge --data`",), srm=False))
    return inputs


def _le(seconds: float) -> str:
    """Prometheus' text for a bucket bound (0.05 -> "0.05")."""
    return f"{seconds:g}"


@dataclass(frozen=True)
class Request:
    """What `triton-slo canary` (online) was asked: the arms, the window and how to judge it.
    Durations are Prometheus duration strings; None: the spec's canary section (or the default)."""

    spec: Spec | None = None
    baseline: str = ""
    canary: str = ""
    window: str | None = None
    warmup: str | None = None
    every: str = "1m"
    slices: int = 10
    weight: float | None = None
    alpha: float | None = None
    end: float | None = None
    watch: bool = False


def request_from(args: argparse.Namespace) -> Request:
    """The request of the command line (its spec read here, at the edge)."""
    return Request(spec=load_spec(args.spec) if args.spec else None, baseline=args.baseline or "",
                   canary=args.canary or "", window=args.window, warmup=args.warmup, every=args.every,
                   slices=args.slices, weight=args.weight, alpha=args.alpha, end=args.end, watch=args.watch)


def run(request: Request, api: PromAPI, output: Output) -> int:
    """Judge the canary of ``request`` from ``api``'s Prometheus; prints the verdict as ``output`` says."""
    spec = request.spec
    canary = spec.canary if spec and spec.canary else Canary()
    base = request.baseline or (f'{canary.label}="{canary.baseline}"' if canary.baseline else "")
    cand = request.canary or (f'{canary.label}="{canary.canary}"' if canary.canary else "")
    if not base or not cand:
        raise UserError("--baseline and --canary selectors are required (or a spec with a canary section)")
    selectors = {"baseline": selector(base, "--baseline"), "canary": selector(cand, "--canary")}
    window_s = _duration(request.window, "--window") if request.window else canary.window_seconds
    warmup_s = _duration(request.warmup, "--warmup") if request.warmup is not None else canary.warmup_seconds
    every_s = _duration(request.every, "--every")
    if window_s < 1:
        raise UserError(f"--window {request.window!r}: must be at least 1s")
    if every_s < 1:
        raise UserError(f"--every {request.every!r}: must be at least 1s (the time between two looks)")
    if not 2 <= request.slices <= MAX_SLICES:
        raise UserError(f"--slices {request.slices}: expected 2 (the least time-paired comparisons need) "
                        f"to {MAX_SLICES}")
    weight = request.weight if request.weight is not None else canary.weight
    if not 0 <= weight < 100:
        raise UserError(f"--weight {weight}: expected the canary's share of traffic in percent, 0 to under 100")
    if request.end is not None and not 0 <= request.end <= LATEST_TIME:
        raise UserError(f"--end {request.end}: expected Unix seconds between 1970 and 9999")
    metrics = canary.metrics or DEFAULT_METRICS
    alpha = request.alpha if request.alpha is not None else 0.05
    end = request.end if request.end is not None else time.time()
    if not request.watch:
        start = _judged_start(api, selectors, end, window_s, warmup_s)
        return _judge_once(request, output, api, selectors, metrics, spec, start, end, alpha, weight)
    return _watch(request, output, api, selectors, metrics, spec,
                  lambda: _judged_start(api, selectors, end, window_s, warmup_s), alpha, weight, window_s, every_s)


MAX_SLICES = 10000
MAX_EVENTS = 2.0**53  # an increase() past this is no count of events (and no float holds it exactly)
LATEST_TIME = 253402300799.0  # 9999-12-31T23:59:59Z
MAX_FAILED_LOOKS = 3  # --watch: looks in a row that may fail (Prometheus restarting) before it gives up


def _duration(text: str, flag: str) -> int:
    return int(flag_duration(text, flag, positive=False))


def _judged_start(api: PromAPI, selectors: dict[str, str], end: float, window_s: int, warmup_s: int) -> float:
    """The window's start, moved past the warm-up when the canary appeared inside the window."""
    start = end - window_s
    seen = Puller(api, selectors).first_seen(TRITON_SUCCESS, "canary", start, end)
    if seen is not None and seen > start + max(1.0, window_s / 500):
        start = max(start, seen + warmup_s)
    return start


def _judge_once(request, output, api, selectors, metrics, spec, start, end, alpha, weight, watch=None):  # noqa: ANN001
    if end - start < 2 * request.slices:
        print(f"verdict: INCONCLUSIVE: {end - start:.0f}s left to judge after the warm-up; "
              f"wait for more data (window ends {end:.0f})")
        return EXIT_CODES["INCONCLUSIVE"]
    window = Window(start, start + (int(end - start) // request.slices) * request.slices, request.slices)
    puller = Puller(api, selectors)
    inputs = collect(puller, metrics, window, spec)
    decision = judge(inputs, alpha, weight / 100, watch)
    emit(output, decision, inputs, baseline=selectors["baseline"], canary=selectors["canary"],
         window={"start": window.start, "end": window.end, "slices": window.slices})
    return EXIT_CODES[str(decision.verdict[0])]


def _watch(request, output, api, selectors, metrics, spec, find_start, alpha, weight, window_s, every_s) -> int:  # noqa: ANN001
    """Re-judge every --every with anytime-valid tests; stop at FAIL, PASS or the window's end.

    A look whose queries fail (Prometheus restarting, a proxy's 502) is reported on stderr and the
    watch goes on; ``MAX_FAILED_LOOKS`` failed looks in a row end it with exit 2 and the last error.
    """
    watch = Watch()
    began = time.time()
    start: float | None = None
    failed = 0
    while True:
        now = time.time()
        final = now - began >= window_s
        try:
            if start is None:
                start = find_start()
            if now - start >= 2 * request.slices:
                window = Window(start, start + (int(now - start) // request.slices) * request.slices, request.slices)
                puller = Puller(api, selectors)
                inputs = collect(puller, metrics, window, spec)
                decision = judge(inputs, alpha, weight / 100, watch)
                verdict = str(decision.verdict[0])
                summary = ", ".join(f"{n} {v[0]}" for n, v in decision.metric_verdicts.items())
                print(f"look {watch.looks} at {now:.0f}: {verdict} ({summary})", file=sys.stderr, flush=True)
                if verdict in ("FAIL", "PASS") or final:
                    emit(output, decision, inputs, baseline=selectors["baseline"], canary=selectors["canary"],
                         looks=watch.looks)
                    return EXIT_CODES[verdict]
            elif final:
                print("verdict: INCONCLUSIVE: no data after the warm-up within the window")
                return EXIT_CODES["INCONCLUSIVE"]
            failed = 0
        except UserError as exc:
            failed += 1
            if failed >= MAX_FAILED_LOOKS:
                raise UserError(f"--watch: {failed} looks in a row failed; the last: {exc}") from None
            print(f"look at {now:.0f} failed ({failed} in a row; the watch stops at {MAX_FAILED_LOOKS}): {exc}",
                  file=sys.stderr, flush=True)
            if final:
                raise UserError(f"--watch: the window ended on a failed look: {exc}") from None
        time.sleep(max(0.0, min(every_s, began + window_s - time.time())))
