"""The four dashboards of a service: executive, on-call, debug and per-SLO.

Each builder returns a grafanalib ``Dashboard``; ``dashboards.grafana.render`` turns it into the
JSON Grafana imports. Metric facts used here:

* Triton: counters per model/version (one series per GPU plus one without: always aggregate by
  model, version); durations are cumulative microseconds; the summary
  ``nv_inference_request_summary_us{quantile}`` is in microseconds and NaN while empty.
* dcgm-exporter: ``DCGM_FI_DEV_GPU_UTIL`` in percent, ``DCGM_FI_DEV_FB_USED/FREE`` in MiB,
  ``DCGM_FI_DEV_SM_CLOCK`` in MHz, power in W, temperature in °C.
* The triton-slo exporter and the SLO recording rules as named in ``triton_slo.names``.
"""

from __future__ import annotations

from decimal import Decimal

from grafanalib import core as G
from triton_slo import names
from triton_slo.dashboards import links as L
from triton_slo.dashboards.panels import Layout, Link, Query, Step, gauge, stat, table, timeseries
from triton_slo.dashboards.queries import ALL, RATE, Source, matchers, slo_matchers, sources
from triton_slo.durations import format_duration
from triton_slo.links import runbook_url
from triton_slo.model import SLO, Spec
from triton_slo.promql import selector
from triton_slo.rules import SloPlan

TAG = "triton-slo"
PER_MODEL = "model, version"

# --- building blocks -----------------------------------------------------------------------------


class Sel:
    """Selectors of one spec's sources, e.g. ``sel.triton(names.TRITON_INFERENCE_COUNT)``."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.src: dict[str, Source] = sources(spec)

    def triton(self, metric: str, per_model: bool = True, **extra: tuple[str, str]) -> str:
        return f"{metric}{{{matchers(self.src['triton'], per_model=per_model, **extra)}}}"

    def dcgm(self, metric: str) -> str:
        return f"{metric}{{{matchers(self.src['dcgm'], per_gpu=True)}}}"

    def exporter(self, metric: str, per_model: bool = False, per_gpu: bool = False) -> str:
        return f"{metric}{{{matchers(self.src['exporter'], per_model=per_model, per_gpu=per_gpu)}}}"

    def rate(self, metric: str, by: str = PER_MODEL, **extra: tuple[str, str]) -> str:
        return f"sum by ({by}) (rate({self.triton(metric, **extra)}[{RATE}]))"

    def per_request_seconds(self, duration_metric: str) -> str:
        """Mean microseconds per successful request, in seconds."""
        return (f"{self.rate(duration_metric)} / {self.rate(names.TRITON_REQUEST_SUCCESS)} / 1e6")

    def error_ratio(self, by: str = PER_MODEL, **extra: tuple[str, str]) -> str:
        failures = self.rate(names.TRITON_REQUEST_FAILURE, by, **extra)
        return f"{failures} / ({self.rate(names.TRITON_REQUEST_SUCCESS, by, **extra)} + {failures})"

    def quantile_seconds(self, quantile: str, by: str = PER_MODEL, **extra: tuple[str, str]) -> str:
        summary = self.triton(names.TRITON_REQUEST_SUMMARY_US, quantile=("=", quantile), **extra)
        return f"max by ({by}) ({summary}) / 1e6"

    def golden_accuracy(self) -> str:
        correct = f"rate({self.exporter(names.GOLDEN_CORRECT, per_model=True)}[{RATE}])"
        total = f"rate({self.exporter(names.GOLDEN_TOTAL, per_model=True)}[{RATE}])"
        return f"sum by ({PER_MODEL}) ({correct}) / sum by ({PER_MODEL}) ({total})"


def runbook_links(spec: Spec, board: str, panel_id: int) -> list[Link]:
    base = spec.service.runbook_base_url
    return [Link(f"Runbook: {name}", runbook_url(base, name)) for name in L.alerts_on(board, panel_id)]


def variables(spec: Spec) -> list[G.Template]:
    src = sources(spec)
    tri, dcgm, exp = src["triton"], src["dcgm"], src["exporter"]
    model_names = [m.name for m in spec.service.models]
    model_regex = "/^(" + "|".join(model_names) + ")$/" if model_names else None

    def job(source: Source, label: str) -> G.Template:
        return G.Template(name=source.job_var, label=label, dataSource="${datasource}",
                          query=f"label_values({source.probe_metric}, job)", default=source.default_job or None,
                          refresh=2, sort=1)

    def values(name: str, label: str, metric: str, selector: str, regex: str | None = None,
               label_name: str = "") -> G.Template:
        return G.Template(name=name, label=label, dataSource="${datasource}",
                          query=f"label_values({metric}{{{selector}}}, {label_name or name})",
                          includeAll=True, multi=True, allValue=ALL, default="$__all", regex=regex, refresh=2,
                          sort=7)

    tri_jobs = f'job=~"${tri.job_var}"'
    return [
        G.Template(name="datasource", label="Data source", type="datasource", query="prometheus", refresh=1),
        G.Template(name="service", label="Service", type="custom", query=spec.service.name,
                   default=spec.service.name, hide=2),
        job(tri, "Triton job"),
        values(tri.instance_var, "Triton instance", tri.probe_metric, tri_jobs, label_name="instance"),
        values("model", "Model", tri.probe_metric, f'{tri_jobs},instance=~"${tri.instance_var}"', model_regex),
        values("version", "Version", tri.probe_metric,
               f'{tri_jobs},instance=~"${tri.instance_var}",model=~"$model"'),
        job(dcgm, "DCGM job"),
        values(dcgm.instance_var, "DCGM instance", dcgm.probe_metric, f'job=~"${dcgm.job_var}"',
               label_name="instance"),
        values("gpu", "GPU", dcgm.probe_metric, f'job=~"${dcgm.job_var}",instance=~"${dcgm.instance_var}"'),
        job(exp, "Exporter job"),
        values(exp.instance_var, "Exporter instance", exp.probe_metric, f'job=~"${exp.job_var}"',
               label_name="instance"),
    ]


def annotations(spec: Spec) -> list[dict]:
    """Grafana's own annotations plus recent deployments: model versions loaded, readiness flips."""
    sel = Sel(spec)
    info = f"max by ({PER_MODEL}) ({sel.exporter(names.MODEL_INFO, per_model=True)})"
    info_before = f"max by ({PER_MODEL}) ({sel.exporter(names.MODEL_INFO, per_model=True)} offset 10m)"
    ready = sel.exporter(names.MODEL_READY, per_model=True)
    prom = {"type": "prometheus", "uid": "${datasource}"}
    return [
        {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
         "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"},
        {"name": "Deployments: model version loaded", "datasource": prom, "enable": True, "hide": False,
         "iconColor": "blue", "expr": f"{info} unless {info_before}", "step": "1m",
         "titleFormat": "{{model}} version {{version}} loaded",
         "textFormat": "a model version first seen in the last 10 minutes", "tagKeys": "model,version"},
        {"name": "Model readiness changed", "datasource": prom, "enable": True, "hide": False,
         "iconColor": "orange", "expr": f"changes({ready}[5m]) > 0", "step": "1m",
         "titleFormat": "{{model}} version {{version}} readiness changed", "tagKeys": "model,version"},
    ]


def dashboard(spec: Spec, board: str, description: str, layout: Layout, title: str = "") -> G.Dashboard:
    service = spec.service.name
    return G.Dashboard(
        title=f"{service} / {title or L.BOARD_TITLES[board]}",
        uid=L.dashboard_uid(service, board),
        description=description,
        tags=[TAG, f"service:{service}", f"board:{board}"],
        timezone="browser",
        refresh="1m",
        time=G.Time("now-6h", "now"),
        sharedCrosshair=True,
        editable=True,
        panels=layout.panels,
        templating=G.Templating(list=variables(spec)),
        annotations=G.Annotations(list=annotations(spec)),
        links=[
            # The link bar between the four boards of this service (Grafana lists them by tag).
            # A dropdown once the SLOs fill several boards: a bar of dozens of links helps nobody.
            G.DashboardLink(title="triton-slo dashboards", type="dashboards", tags=[TAG, f"service:{service}"],
                            asDropdown=bool(slo_parts(spec)), includeVars=True, keepTime=True),
            G.DashboardLink(title="Runbooks", type="link", uri=spec.service.runbook_base_url, icon="doc",
                            targetBlank=True, tooltip="runbooks of the alerts of this service"),
        ],
    )


def slo_named(spec: Spec, kind: str) -> SLO | None:
    return next((slo for slo in spec.slos if slo.sli.kind == kind), None)


def objective_steps(slo: SLO | None) -> list[Step]:
    return [Step(float(slo.objective_ratio), "green")] if slo else []


def _pct(value: Decimal | float) -> str:
    return f"{float(value) * 100:g}%"


# --- executive -----------------------------------------------------------------------------------


def executive(spec: Spec) -> G.Dashboard:
    sel, lay = Sel(spec), Layout()
    availability = slo_named(spec, "availability")
    accuracy = slo_named(spec, "accuracy")
    latency = slo_named(spec, "latency")

    lay.row("Service level")
    title, about, expr = _budget_remaining(spec)
    lay.add(stat(
        title, f"{about} left over its period ({names.BUDGET_REMAINING}); below 0 the SLO is breached.",
        "percentunit", [Query(expr, "{{slo}}")],
        base_color="red", steps=[Step(0.0, "orange"), Step(0.25, "green")],
    ), w=12, h=6)
    avail_expr = f"1 - ({sel.error_ratio()})"
    avail_desc = "Share of inference requests that succeeded (Triton success / (success + failure))"
    if availability:
        avail_desc += f"; the line is the objective, {availability.objective}%."
    lay.add(timeseries(
        "Model availability vs objective", avail_desc, "percentunit",
        [Query(avail_expr, "{{model}} v{{version}}")],
        max=1.0, soft_min=float(availability.objective_ratio) - 0.01 if availability else 0.99,
        steps=[Step(float(availability.objective_ratio), "green")] if availability else [],
        base_color="red", draw_thresholds=True,
    ), w=12, h=6)

    if slo_parts(spec):
        _slo_counts(spec, lay)
    for slo in () if slo_parts(spec) else spec.slos:
        period = format_duration(slo.window.seconds)
        lay.add(gauge(
            f"{slo.name}: SLI over {slo.window.text}",
            f"Good share of events over the whole {slo.window.text} period (1 - {names.RATIO}{period}) "
            f"against the objective {slo.objective}% (green from the objective up).",
            "percentunit",
            [Query(f"1 - max({names.RATIO}{period}{{{slo_matchers(slo.name)}}})", slo.name)],
            min=max(0.0, float(slo.objective_ratio - slo.error_budget * 10)), max=1.0,
            steps=[Step(float(slo.objective_ratio), "green")],
        ), w=max(4, 24 // max(1, len(spec.slos))), h=6)

    lay.row("Latency and quality")
    p99_steps = [Step(latency.sli.threshold_seconds, "red")] if latency else []
    lay.add(timeseries(
        "P99 latency trend",
        "99th percentile of server-side request latency per model version, from Triton's summary "
        f"({names.TRITON_REQUEST_SUMMARY_US}); the line is the latency SLO threshold.",
        "s", [Query(sel.quantile_seconds("0.99"), "{{model}} v{{version}}")],
        min=0.0, steps=p99_steps, draw_thresholds=True,
    ), w=12)
    lay.add(timeseries(
        "Golden-set accuracy trend",
        "Share of golden-set images classified correctly by the exporter's probes"
        + (f"; the line is the objective, {accuracy.objective}%." if accuracy else "."),
        "percentunit", [Query(sel.golden_accuracy(), "{{model}} v{{version}}")],
        max=1.0, steps=objective_steps(accuracy), base_color="red", draw_thresholds=True,
    ), w=12)

    lay.row("Cost and rollout")
    gpu_seconds = f"sum(avg_over_time({sel.dcgm(names.DCGM_GPU_UTIL)}[{RATE}])) / 100"
    requests = f"sum(rate({sel.triton(names.TRITON_REQUEST_SUCCESS)}[{RATE}]))"
    lay.add(timeseries(
        "Cost per 1k inferences (GPU-seconds)",
        "GPU-seconds spent per 1000 successful requests: the busy share of the selected GPUs "
        f"({names.DCGM_GPU_UTIL} / 100, GPU-seconds per second) divided by the request rate, times 1000. "
        "GPUs shared with other workloads make this an upper bound.",
        "s", [Query(f"{gpu_seconds} / {requests} * 1000", "GPU-seconds per 1k requests")], min=0.0,
    ), w=12)
    lay.add(timeseries(
        "Request rate",
        "Successful plus failed inference requests per second, per model version.",
        "reqps",
        [Query(f"{sel.rate(names.TRITON_REQUEST_SUCCESS)} + {sel.rate(names.TRITON_REQUEST_FAILURE)}",
               "{{model}} v{{version}}")], min=0.0,
    ), w=12)
    if spec.canary:
        _canary_panels(spec, sel, lay)
    return dashboard(spec, "executive",
                     "Is the service meeting its objectives, what it costs, and how the canary compares.", lay)


def _canary_panels(spec: Spec, sel: Sel, lay: Layout) -> None:
    canary = spec.canary
    assert canary is not None
    label = canary.label
    both = ("=~", f"{canary.baseline}|{canary.canary}")
    legend = "{{" + label + "}}"
    who = f"baseline {label}={canary.baseline} vs canary {label}={canary.canary}"
    lay.add(timeseries(
        "Canary vs baseline: P99 latency", f"P99 of request latency, {who}.", "s",
        [Query(sel.quantile_seconds("0.99", by=label, **{label: both}), legend)], min=0.0,
    ), w=12)
    lay.add(timeseries(
        "Canary vs baseline: error ratio", f"Failed share of inference requests, {who}.", "percentunit",
        [Query(sel.error_ratio(by=label, **{label: both}), legend)], min=0.0,
    ), w=12)


# --- on-call -------------------------------------------------------------------------------------


def oncall(spec: Spec) -> G.Dashboard:
    sel, lay = Sel(spec), Layout()
    P = L.OncallPanel
    th = spec.alerting.thresholds

    def rb(panel_id: int) -> list[Link]:
        return runbook_links(spec, "oncall", panel_id)

    lay.row("Now")
    lay.add(table(
        "Firing alerts",
        "triton-slo alerts of this service firing now (Prometheus' ALERTS series); each alert's runbook "
        "and dashboard links are in its annotations.", "none",
        [Query(selector([("__name__", "=", names.ALERTS_SERIES), ("alertstate", "=", "firing"),
                         (names.LABEL_SERVICE, "=", "$service"), ("alertname", "=~", names.ALERT_PREFIX + ".*")],
                        ","), instant=True)],
        hide_columns=("Time", "Value", "__name__", "alertstate"),
    ), w=12, h=7, id=P.FIRING_ALERTS)
    lay.add(stat(
        "Serving state",
        "1 when Triton's server and every selected model version are ready (exporter probes), else 0; "
        "up is Prometheus reaching Triton's /metrics.", "bool_yes_no",
        [Query(f"min by ({PER_MODEL}) ({sel.exporter(names.MODEL_READY, per_model=True)})",
               "{{model}} v{{version}} ready"),
         Query(f"min({sel.exporter(names.SERVER_READY)})", "server ready"),
         Query(f"min({names.UP}{{{matchers(sel.src['triton'])}}})", "Triton scraped")],
        base_color="red", steps=[Step(1.0, "green")], links=rb(P.SERVING_STATE),
    ), w=12, h=7, id=P.SERVING_STATE)

    lay.row("Latency and errors")
    lay.add(timeseries(
        "P99 latency per model version",
        "99th percentile of server-side request latency (Triton summary, microseconds converted to "
        f"seconds). Lines: warning {th.p99_warning_seconds:g}s, critical {th.p99_critical_seconds:g}s.",
        "s", [Query(sel.quantile_seconds("0.99"), "{{model}} v{{version}}")], min=0.0,
        steps=[Step(th.p99_warning_seconds, "orange"), Step(th.p99_critical_seconds, "red")],
        draw_thresholds=True, links=rb(P.P99_LATENCY),
    ), w=12, id=P.P99_LATENCY)
    lay.add(timeseries(
        "P50 latency per model version",
        "Median server-side request latency (Triton summary, microseconds converted to seconds).",
        "s", [Query(sel.quantile_seconds("0.5"), "{{model}} v{{version}}")], min=0.0,
    ), w=12, id=P.P50_LATENCY)
    lay.add(timeseries(
        "Error rate by reason",
        "Failed inference requests per second by model version and Triton's failure reason "
        "(REJECTED, CANCELED, BACKEND, OTHER).", "reqps",
        [Query(sel.rate(names.TRITON_REQUEST_FAILURE, by="model, version, reason"),
               "{{model}} v{{version}} {{reason}}")], min=0.0, links=rb(P.ERRORS_BY_REASON),
    ), w=12, id=P.ERRORS_BY_REASON)
    lay.add(timeseries(
        "Request rate per model version",
        f"Inference requests per second (success plus failure); a flat zero is what {names.NO_TRAFFIC} "
        "pages on.", "reqps",
        [Query(f"{sel.rate(names.TRITON_REQUEST_SUCCESS)} + {sel.rate(names.TRITON_REQUEST_FAILURE)}",
               "{{model}} v{{version}}")], min=0.0, links=rb(P.REQUEST_RATE),
    ), w=12, id=P.REQUEST_RATE)
    lay.add(timeseries(
        "Queue time per request",
        f"Mean time a request waited in Triton's scheduler queue ({names.TRITON_QUEUE_DURATION_US} per "
        f"successful request). Line: warning {th.queue_time_warning_seconds:g}s.", "s",
        [Query(sel.per_request_seconds(names.TRITON_QUEUE_DURATION_US), "{{model}} v{{version}}")],
        min=0.0, steps=[Step(th.queue_time_warning_seconds, "orange")], draw_thresholds=True,
        links=rb(P.QUEUE_TIME),
    ), w=12, id=P.QUEUE_TIME)
    lay.add(timeseries(
        "Golden-set accuracy",
        "Share of golden-set images the exporter's probes saw classified correctly, per model version.",
        "percentunit", [Query(sel.golden_accuracy(), "{{model}} v{{version}}")], max=1.0,
        steps=[Step(th.accuracy_warning, "green")] if th.accuracy_warning else [],
        base_color="red" if th.accuracy_warning else "green",
        draw_thresholds=bool(th.accuracy_warning), links=rb(P.GOLDEN_ACCURACY),
    ), w=12, id=P.GOLDEN_ACCURACY)

    lay.row("GPUs")
    fb_used = sel.dcgm(names.DCGM_FB_USED)
    fb_free = sel.dcgm(names.DCGM_FB_FREE)
    lay.add(timeseries(
        "GPU memory used per GPU",
        "Framebuffer used / (used + free) per GPU (dcgm-exporter, MiB). Line: the headroom warning "
        f"at {_pct(1 - th.memory_headroom_warning)} used.", "percentunit",
        [Query(f"max by (gpu, UUID) ({fb_used}) / (max by (gpu, UUID) ({fb_used}) + max by (gpu, UUID) "
               f"({fb_free}))", "GPU {{gpu}}")],
        min=0.0, max=1.0, steps=[Step(1 - th.memory_headroom_warning, "orange"), Step(0.98, "red")],
        draw_thresholds=True, links=rb(P.GPU_MEMORY_PER_GPU),
    ), w=12, id=P.GPU_MEMORY_PER_GPU)
    gpu_info = sel.exporter(names.MODEL_GPU_INFO, per_model=True)
    lay.add(timeseries(
        "GPU memory per model",
        "Framebuffer used on the GPUs each model version runs on, joined through "
        f"{names.MODEL_GPU_INFO} (model -> GPU UUID); models sharing a GPU show the same GPU total.",
        "bytes",
        [Query(f"max by (model, version, gpu) ({gpu_info} * on (UUID) group_left () "
               f"max by (UUID) ({fb_used} * 1048576))", "{{model}} v{{version}} on GPU {{gpu}}")],
        min=0.0,
    ), w=12, id=P.GPU_MEMORY_PER_MODEL)
    xid = sel.exporter(names.GPU_XID_ERRORS, per_gpu=True)
    headroom = sel.exporter(names.GPU_MEMORY_HEADROOM, per_gpu=True)
    lay.add(timeseries(
        "Recent OOM and XID events",
        "XID errors per GPU and code (31/43: the application faulted or stopped the GPU, 48: double-bit "
        "ECC, 79: fell off the bus) and GPUs whose framebuffer was full (under 1% free: allocations "
        "fail with out-of-memory).", "short",
        [Query(f"sum by (gpu, xid) (increase({xid}[{RATE}])) > 0", "GPU {{gpu}} XID {{xid}}"),
         Query(f"count by (gpu) ({headroom} < 0.01)", "GPU {{gpu}} framebuffer full")],
        min=0.0, bars=True, links=rb(P.OOM_XID_EVENTS),
    ), w=12, id=P.OOM_XID_EVENTS)
    lay.add(timeseries(
        "GPU throttling",
        "Clock throttle reasons active per GPU (1 = active), from the exporter's decoding of dcgm's "
        "throttle bitmask.", "short",
        [Query(f"max by (gpu, reason) ({sel.exporter(names.GPU_THROTTLE_ACTIVE, per_gpu=True)})",
               "GPU {{gpu}} {{reason}}")], min=0.0, max=1.0, links=rb(P.GPU_THROTTLING),
    ), w=12, id=P.GPU_THROTTLING)

    lay.row("Rollout and telemetry")
    if spec.canary:
        lay.add(timeseries(
            "Canary deltas",
            f"Canary minus baseline for each judged metric ({names.CANARY_DELTA}*, {spec.canary.label}="
            f"{spec.canary.canary} vs {spec.canary.baseline}); above zero the canary is worse for "
            "metrics that must not increase.", "short",
            [Query(selector([("__name__", "=~", names.CANARY_DELTA + ".+"), (names.LABEL_SERVICE, "=", "$service")],
                            ","), "{{__name__}}")],
            links=rb(P.CANARY_DELTAS),
        ), w=12, id=P.CANARY_DELTAS)
    lay.add(stat(
        "Exporter upstreams",
        "Whether the triton-slo exporter reached each upstream (Triton metrics, Triton API, dcgm) at "
        "its last scrape.", "bool_yes_no",
        [Query(f"min by (upstream) ({sel.exporter(names.EXPORTER_UP)})", "{{upstream}}")],
        base_color="red", steps=[Step(1.0, "green")], links=rb(P.EXPORTER_UPSTREAMS),
    ), w=12, h=8, id=P.EXPORTER_UPSTREAMS)
    return dashboard(spec, "oncall", "What is broken now: latency, errors, alerts, GPUs, rollout.", lay)


# --- debug ---------------------------------------------------------------------------------------


def debug(spec: Spec) -> G.Dashboard:
    sel, lay = Sel(spec), Layout()
    lay.row("Where requests spend their time")
    stages = (
        (names.TRITON_QUEUE_DURATION_US, "queue"),
        (names.TRITON_COMPUTE_INPUT_DURATION_US, "compute input"),
        (names.TRITON_COMPUTE_INFER_DURATION_US, "compute infer"),
        (names.TRITON_COMPUTE_OUTPUT_DURATION_US, "compute output"),
    )
    lay.add(timeseries(
        "Per-stage latency",
        "Mean time per successful request in each stage of Triton's pipeline: scheduler queue, input "
        "copy, model execution, output copy (cumulative microseconds / requests).", "s",
        [Query(sel.per_request_seconds(metric), "{{model}} v{{version}} " + stage) for metric, stage in stages],
        min=0.0,
    ), w=12)
    lay.add(timeseries(
        "Batch size (inferences per execution)",
        f"{names.TRITON_INFERENCE_COUNT} / {names.TRITON_EXEC_COUNT}: how many inferences Triton's dynamic batcher "
        "put into each model execution.", "short",
        [Query(f"{sel.rate(names.TRITON_INFERENCE_COUNT)} / {sel.rate(names.TRITON_EXEC_COUNT)}",
               "{{model}} v{{version}}")], min=0.0,
    ), w=12)
    lay.add(timeseries(
        "Pending requests",
        f"Requests waiting in Triton's queue or being executed ({names.TRITON_PENDING_REQUESTS}).",
        "short", [Query(f"sum by ({PER_MODEL}) ({sel.triton(names.TRITON_PENDING_REQUESTS)})",
                        "{{model}} v{{version}}")], min=0.0,
    ), w=12)
    lay.add(timeseries(
        "Mean request latency",
        f"End-to-end server-side time per successful request ({names.TRITON_REQUEST_DURATION_US}), and "
        "the probe's client-side P99 from the exporter's histogram.", "s",
        [Query(sel.per_request_seconds(names.TRITON_REQUEST_DURATION_US), "{{model}} v{{version}} server mean"),
         Query(f"histogram_quantile(0.99, sum by (model, version, le) (rate("
               f"{sel.exporter(names.PROBE_LATENCY + '_bucket', per_model=True)}[{RATE}])))",
               "{{model}} v{{version}} probe P99")], min=0.0,
    ), w=12)

    lay.row("GPUs")
    lay.add(timeseries(
        "GPU utilization",
        f"Share of time a kernel ran on each GPU: dcgm-exporter's {names.DCGM_GPU_UTIL} (percent) and "
        f"Triton's own {names.TRITON_GPU_UTILIZATION} (0-1, shown in percent).", "percent",
        [Query(f"max by (gpu) ({sel.dcgm(names.DCGM_GPU_UTIL)})", "GPU {{gpu}} (dcgm)"),
         Query(f"max by (gpu_uuid) ({sel.triton(names.TRITON_GPU_UTILIZATION, per_model=False)}) * 100",
               "{{gpu_uuid}} (Triton)")], min=0.0, max=100.0,
    ), w=12)
    lay.add(timeseries(
        "SM clock",
        f"Streaming-multiprocessor clock per GPU ({names.DCGM_SM_CLOCK}, MHz); drops under load mean "
        "throttling.", "hertz",
        [Query(f"max by (gpu) ({sel.dcgm(names.DCGM_SM_CLOCK)}) * 1e6", "GPU {{gpu}}")], min=0.0,
    ), w=12)
    lay.add(timeseries(
        "Throttle reasons",
        f"Clock throttle reasons active per GPU (exporter's {names.GPU_THROTTLE_ACTIVE}, 1 = active).",
        "short", [Query(f"max by (gpu, reason) ({sel.exporter(names.GPU_THROTTLE_ACTIVE, per_gpu=True)})",
                        "GPU {{gpu}} {{reason}}")], min=0.0, max=1.0,
    ), w=12)
    lay.add(timeseries(
        "Power and temperature",
        f"Board power draw ({names.DCGM_POWER_USAGE}, W) and GPU temperature ({names.DCGM_GPU_TEMP}, °C).",
        "watt", [Query(f"max by (gpu) ({sel.dcgm(names.DCGM_POWER_USAGE)})", "GPU {{gpu}} power"),
                 Query(f"max by (gpu) ({sel.dcgm(names.DCGM_GPU_TEMP)})", "GPU {{gpu}} °C")],
        min=0.0,
    ), w=12)
    batch = f"({sel.rate(names.TRITON_INFERENCE_COUNT, by='')} / {sel.rate(names.TRITON_EXEC_COUNT, by='')})"
    gpu_info = sel.exporter(names.MODEL_GPU_INFO, per_model=True)
    model_fb = (f"max by (model, version) ({gpu_info} * on (UUID) group_left () max by (UUID) "
                f"({sel.dcgm(names.DCGM_FB_USED)} * 1048576))")
    lay.add(timeseries(
        "Memory per inference",
        "Memory held per inference slot of a batch: GPU framebuffer used on a model's GPUs divided by "
        "its mean batch size, and Triton's host memory divided by the service's mean batch size.",
        "bytes",
        [Query(f"{model_fb} / ({sel.rate(names.TRITON_INFERENCE_COUNT)} / {sel.rate(names.TRITON_EXEC_COUNT)})",
               "{{model}} v{{version}} GPU"),
         Query(f"sum({sel.triton(names.TRITON_CPU_MEMORY_USED, per_model=False)}) / {batch}", "host")],
        min=0.0,
    ), w=12)

    lay.row("Triton process and exporter")
    lay.add(timeseries(
        "Triton CPU utilization",
        f"CPU utilization of Triton's host as Triton reports it ({names.TRITON_CPU_UTILIZATION}, 0-1).", "percentunit",
        [Query(f"max by (instance) ({sel.triton(names.TRITON_CPU_UTILIZATION, per_model=False)})", "{{instance}}")],
        min=0.0,
    ), w=12)
    lay.add(timeseries(
        "Triton memory",
        f"Host memory used ({names.TRITON_CPU_MEMORY_USED}) and GPU memory used as Triton sees it "
        f"({names.TRITON_GPU_MEMORY_USED}, per GPU).", "bytes",
        [Query(f"max by (instance) ({sel.triton(names.TRITON_CPU_MEMORY_USED, per_model=False)})", "host {{instance}}"),
         Query(f"max by (gpu_uuid) ({sel.triton(names.TRITON_GPU_MEMORY_USED, per_model=False)})", "{{gpu_uuid}}")],
        min=0.0,
    ), w=12)
    lay.add(timeseries(
        "Exporter health",
        "Whether the triton-slo exporter reached each upstream (1 = up) and how long its scrape of it "
        "took (seconds, right scale of the same unit).", "s",
        [Query(f"max by (upstream) ({sel.exporter(names.EXPORTER_SCRAPE_DURATION)})", "{{upstream}} scrape"),
         Query(f"min by (upstream) ({sel.exporter(names.EXPORTER_UP)})", "{{upstream}} up")], min=0.0,
    ), w=12)
    lay.add(timeseries(
        "Exporter errors",
        "Scrape errors per second by upstream and reason, and payloads it could not parse.", "short",
        [Query(f"sum by (upstream, reason) (rate({sel.exporter(names.EXPORTER_SCRAPE_ERRORS)}[{RATE}]))",
               "{{upstream}} {{reason}}"),
         Query(f"sum by (upstream) (rate({sel.exporter(names.EXPORTER_PARSE_ERRORS)}[{RATE}]))",
               "{{upstream}} parse errors")], min=0.0,
    ), w=12)
    return dashboard(spec, "debug", "Why it is slow or failing: Triton's pipeline, GPUs, the exporter. "
                     "Deployments are drawn as annotations.", lay)


# --- per SLO -------------------------------------------------------------------------------------


# Rows of SLOs on one board. Beyond this the SLO board keeps the overview (the worst SLOs, and a
# table of every SLO) and the rows go to boards ``slo-1``, ``slo-2``, ... of this many SLOs each:
# a board of a thousand rows is too slow for Grafana to open and too big for a ConfigMap.
SLOS_PER_BOARD = 20


def slo_parts(spec: Spec) -> list[tuple[SLO, ...]]:
    """The SLOs of each SLO-row board, in spec order; empty when the SLO board holds them all."""
    if len(spec.slos) <= SLOS_PER_BOARD:
        return []
    return [spec.slos[i:i + SLOS_PER_BOARD] for i in range(0, len(spec.slos), SLOS_PER_BOARD)]


def part_board(index: int) -> str:
    """Board name of the SLO rows of part ``index`` (from 1): its file ``<service>-slo-<index>.json``."""
    return f"slo-{index}"


def board_names(spec: Spec) -> list[str]:
    """Every board of a spec: the four of ``dashboards.links.BOARDS`` and any SLO-row boards."""
    return [*L.BOARDS, *(part_board(i) for i in range(1, len(slo_parts(spec)) + 1))]


def _budget_remaining(spec: Spec) -> tuple[str, str, str]:
    """(title, what it shows, query) of the budget-remaining stat: every SLO, or the lowest ones."""
    every = f"min by (slo) ({names.BUDGET_REMAINING}{{{slo_matchers()}}})"
    if not slo_parts(spec):
        return "Error budget remaining per SLO", "Share of each SLO's error budget", every
    return (f"Error budget remaining: the {SLOS_PER_BOARD} lowest",
            f"Share of the error budget of the {SLOS_PER_BOARD} SLOs (of {len(spec.slos)}) with the least",
            f"bottomk({SLOS_PER_BOARD}, {every})")


def _slo_counts(spec: Spec, lay: Layout) -> None:
    """How many SLOs are breached or close to it: the executive view of a service with many SLOs."""
    budget = f"min by (slo) ({names.BUDGET_REMAINING}{{{slo_matchers()}}})"
    lay.add(stat(
        "SLOs out of budget",
        f"How many of the {len(spec.slos)} SLOs have spent their whole error budget over their period "
        f"({names.BUDGET_REMAINING} below 0); the SLO boards show each.", "none",
        [Query(f"count({budget} < 0) or vector(0)", "out of budget")],
        steps=[Step(1.0, "red")],
    ), w=12, h=6)
    lay.add(stat(
        "SLOs under a quarter of their budget",
        f"How many of the {len(spec.slos)} SLOs have less than 25% of their error budget left.", "none",
        [Query(f"count({budget} < 0.25) or vector(0)", "under 25%")],
        steps=[Step(1.0, "orange")],
    ), w=12, h=6)


def _burn_rate_links(spec: Spec) -> list[Link]:
    return [Link(f"Runbook: {name}", runbook_url(spec.service.runbook_base_url, name))
            for name in names.BURN_ALERTS.values()]


def slos(spec: Spec, plans: dict[str, SloPlan]) -> G.Dashboard:
    """The SLO board: every SLO at once, then (up to SLOS_PER_BOARD SLOs) a row per SLO from its plan."""
    lay = Layout()
    P = L.SloPanel
    parts = slo_parts(spec)
    lay.row("Every SLO" if not parts else f"The SLOs that need attention (of {len(spec.slos)})")
    title, _, budget = _budget_remaining(spec)
    lay.add(stat(
        "Error budget remaining" if not parts else title,
        "Share of the error budget left over each SLO's period; below 0 the objective is missed.",
        "percentunit", [Query(budget, "{{slo}}")],
        base_color="red", steps=[Step(0.0, "orange"), Step(0.25, "green")],
    ), w=12, h=6, id=P.BUDGET_REMAINING)
    burn = f"max by (slo) ({names.CURRENT_BURN}{{{slo_matchers()}}})"
    lay.add(timeseries(
        "Burn rate (shortest page window)" if not parts else
        f"Burn rate (shortest page window): the {SLOS_PER_BOARD} highest",
        f"How fast each SLO spends its budget ({names.CURRENT_BURN}): 1 spends it exactly over the "
        "period; the budget-burn alerts link here.", "short",
        [Query(burn if not parts else f"topk({SLOS_PER_BOARD}, {burn})", "{{slo}}")], min=0.0,
        links=_burn_rate_links(spec),
    ), w=12, h=6, id=P.BURN_RATE)
    if not parts:
        for slo in spec.slos:
            _slo_row(spec, slo, lay, plans[slo.name])
        return dashboard(spec, "slo", "Each SLO: its SLI against the objective, burn rates on the alert "
                         "windows with the alert thresholds, and the budget left over the period.", lay)
    lay.row("Every SLO")
    lay.add(table(
        "Every SLO now",
        f"Budget left and burn rate of each of the {len(spec.slos)} SLOs (sort by a column header). Each "
        f"SLO's own panels are on the boards '{part_title(spec, 1)}' and on, in spec order (the dashboards "
        "menu at the top).", "none",
        [Query(f"min by (slo) ({names.BUDGET_REMAINING}{{{slo_matchers()}}})", instant=True),
         Query(f"max by (slo) ({names.CURRENT_BURN}{{{slo_matchers()}}})", instant=True)],
        rename={"Value #A": "budget remaining", "Value #B": "burn rate"},
    ), w=24, h=12)
    return dashboard(spec, "slo", "The SLOs with the least budget and the fastest burn, and every SLO in a "
                     f"table; each SLO's panels are on the boards of {SLOS_PER_BOARD} SLOs in the dashboards "
                     "menu.", lay)


def part_title(spec: Spec, index: int) -> str:
    """E.g. ``SLOs 0021-0040 (availability-20 to timeslice-39)``: zero-padded, as Grafana lists
    boards by title, and with the names that tell where an SLO is."""
    part = slo_parts(spec)[index - 1]
    first = (index - 1) * SLOS_PER_BOARD + 1
    digits = len(str(len(spec.slos)))
    return (f"{L.BOARD_TITLES['slo']} {first:0{digits}d}-{first + len(part) - 1:0{digits}d} "
            f"({part[0].name} to {part[-1].name})")


def slo_part(spec: Spec, index: int, plans: dict[str, SloPlan]) -> G.Dashboard:
    """The rows of the SLOs of part ``index`` (from 1), each as on a one-board SLO dashboard
    (``plans``: each SLO's plan by name, as its rules were made)."""
    lay = Layout()
    for slo in slo_parts(spec)[index - 1]:
        _slo_row(spec, slo, lay, plans[slo.name])
    return dashboard(spec, part_board(index), f"{len(spec.slos)} SLOs, {SLOS_PER_BOARD} a board: each SLO's SLI "
                     "against the objective, burn rates on the alert windows with the alert thresholds, and the "
                     "budget left over the period.", lay, title=part_title(spec, index))


def _slo_row(spec: Spec, slo: SLO, lay: Layout, p: SloPlan) -> None:
    """SLI, burn rates and budget of one SLO, read from the very series its alerts read (slo.rules)."""
    sel_ = slo_matchers(slo.name)

    def templated(expr: str) -> str:  # the rules' exact selector, with the dashboard's variables
        return expr.replace(p.match, "{" + sel_ + "}")

    lay.row(f"SLO {slo.name}: {slo.objective}% over {slo.window.text}")
    about = f" {slo.description}" if slo.description else ""
    base = format_duration(p.base)
    lay.add(timeseries(
        f"{slo.name}: SLI vs objective",
        f"Good share of events over {base} (1 - {names.RATIO}{base}) against the objective "
        f"{slo.objective}%.{about}", "percentunit",
        [Query(f"1 - max by ({PER_MODEL}) ({templated(p.ratio_expr(p.base))})", "{{model}} v{{version}}"),
         Query(f"max({names.OBJECTIVE}{{{slo_matchers(slo.name, per_model=False)}}})", "objective")],
        max=1.0, soft_min=float(slo.objective_ratio - slo.error_budget * 10),
    ), w=8)
    windows = sorted({w for t in p.tiers for w in (t.long_window, t.short_window) if w > 0} or {p.base})
    budget = f"scalar(max({names.ERROR_BUDGET}{{{slo_matchers(slo.name, per_model=False)}}}))"
    tiers = ", ".join(f"{t.name} ({t.severity}) {t.factor}x over {format_duration(t.long_window)} and "
                      f"{format_duration(t.short_window)}" for t in p.tiers) or "no burn-rate alerts"
    lay.add(timeseries(
        f"{slo.name}: burn rate on the alert windows",
        f"Error ratio over each alert window divided by the error budget; the lines are the tiers' "
        f"burn-rate thresholds: {tiers}.", "short",
        [Query(f"max by ({PER_MODEL}) ({templated(p.ratio_expr(w))}) / {budget}",
               f"{format_duration(w)} {{{{model}}}} v{{{{version}}}}") for w in windows],
        min=0.0, steps=[Step(float(f), "red") for f in sorted({t.factor for t in p.tiers})], draw_thresholds=True,
    ), w=8)
    lay.add(timeseries(
        f"{slo.name}: error budget remaining",
        f"Share of the error budget left over the {slo.window.text} period "
        f"({names.BUDGET_REMAINING}).", "percentunit",
        [Query(f"min by ({PER_MODEL}) ({names.BUDGET_REMAINING}{{{sel_}}})",
               "{{model}} v{{version}}")],
        max=1.0, steps=[Step(0.0, "green")], base_color="red", draw_thresholds=True,
    ), w=8)


# The boards made from the spec alone; the SLO board (``slos``) also reads the SLOs' plans.
BUILDERS = {"executive": executive, "oncall": oncall, "debug": debug}
