"""The scripted demo: on a stack it starts itself (``run_live``), or on a user's servers (``run_remote``).

Every observation comes from a real component: the CLI commands (`generate`, `status`, `canary`,
`runbook`, `snapshot`) through ``slo.cli.main``, figures from Prometheus's query API, pages and
resolutions from what Alertmanager posted to the webhook.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from slo.burnrate import decimal_text, tiers_for
from slo.demo.commands import CliRun, triton_slo
from slo.demo.compress import compress_spec, rewrite_alertmanager
from slo.demo.narrate import Narrator, table
from slo.durations import format_duration
from slo.promapi import PromAPI
from slo.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
EXAMPLE_SPEC = EXAMPLES / "resnet-classifier.yaml"
BASELINE, CANARY, SIDE_MODEL = "resnet_baseline", "resnet_deep", "resnet_concat"
PAGE_ALERT = {"errors": "TritonSloAvailabilityBudgetBurn", "latency": "TritonSloLatencyBudgetBurn"}
FAULT_PARAMS: dict[str, dict[str, float]] = {"errors": {"fraction": 0.3}, "latency": {"delay_s": 0.1}}
FAULT_METRIC = {"errors": "error_ratio", "latency": "latency_p99"}  # the example's canary metric each fault hits
FAULT_WORDS = {"errors": "30% of the canary's requests fail (a residual block without its projection: "
                         "a shape error)",
               "latency": "every canary request waits 100 ms more"}


@dataclass(frozen=True)
class Phases:
    steady_s: float  # steady load before the canary
    canary_s: float  # the healthy canary before the fault
    fault_s: float  # how long the fault stays on (the page comes within seconds)
    rate: float = 40.0  # requests/s of the service's main traffic (baseline + canary)
    side_rate: float = 4.0  # requests/s to resnet_concat, the service's third model
    batch: int = 4  # images per request
    page_timeout_s: float = 120.0
    resolve_timeout_s: float = 180.0


FULL = Phases(steady_s=45, canary_s=60, fault_s=30)
QUICK = Phases(steady_s=20, canary_s=30, fault_s=20)


@dataclass
class Options:
    out: Path
    phases: Phases
    factor: float
    fault: str
    dcgm_recording: Path | None
    dcgm_note: str
    # --no-stack
    prometheus: str = ""
    triton: str = ""
    alertmanager: str = ""
    spec: Path | None = None


@dataclass
class Summary:
    data: dict[str, Any] = field(default_factory=lambda: {"ok": False, "steps": {}, "skipped": []})

    def step(self, name: str) -> dict[str, Any]:
        return self.data["steps"].setdefault(name, {})

    def skip(self, what: str) -> None:
        self.data["skipped"].append(what)


class DemoFailed(RuntimeError):
    """A step did not happen as the script expects; the message says which and what was seen."""


# --- shared by both modes ------------------------------------------------------------------------


def generate_examples(n: Narrator, summary: Summary, out: Path) -> None:
    n.header("generate everything for examples/")
    specs = sorted(str(p.relative_to(REPO) if p.is_relative_to(REPO) else p) for p in EXAMPLES.glob("*.yaml"))
    run = triton_slo(["generate", *specs, "-o", str(out / "generated")])
    n.command(run.argv)
    files = sorted(p for p in (out / "generated").rglob("*") if p.is_file())
    summary.step("generate")["examples"] = {**run.record(keep_output=False), "files": len(files)}
    if run.code:
        raise DemoFailed(f"triton-slo generate exited {run.code}: {run.err.strip()}")
    kinds = sorted({p.relative_to(out / "generated").parts[0] for p in files})
    n.detail(f"{len(files)} files for {len(specs)} specs in {out / 'generated'}: {', '.join(kinds)}")


def _verdict_lines(result: Any, limit: int = 160) -> str:
    """The verdict and one line per metric with its first deciding reason."""
    if not isinstance(result, dict):
        return "no verdict (see the error above)"
    lines = [f"verdict: {result['verdict']}"]
    for metric in result.get("metrics", []):
        reasons = [c["reason"] for c in metric.get("checks", []) if c.get("reason")]
        reason = reasons[0] if reasons else "; ".join(metric.get("notes", [])) or "-"
        reason = reason if len(reason) <= limit else reason[: limit - 3] + "..."
        critical = " (critical)" if metric.get("critical") else ""
        lines.append(f"  {metric['name']}{critical}: {metric['verdict']}: {reason}")
    return "\n".join(lines)


def _change(check: dict) -> str:
    if check.get("difference") is None:
        return "?"
    if check.get("scale") == "relative":
        return f"{check['difference'] * 100:+.1f}% (margin {check['margin'] * 100:+.0f}%)"
    return f"{check['difference']:+.4f} (margin {check['margin']:+g})"


def _split_note(metrics: list[dict], weight: float | None) -> str:
    """A sentence when the judge found the traffic split off the configured weight (it blocks a PASS)."""
    traffic = [m for m in metrics if m.get("kind") == "error_ratio" and m.get("checks")]
    p = min((m["sample_ratio_p"] for m in traffic if m.get("sample_ratio_p") is not None), default=None)
    if weight is None or p is None or p >= 0.001:
        return ""
    check = traffic[0]["checks"][0]
    total = check["n_baseline"] + check["n_canary"]
    share = check["n_canary"] / total if total else 0
    return (f"; the canary got {share:.0%} of the requests, not the configured {weight:g}% (sample-ratio "
            f"p={p:.1g}: the exporter's probes reach both arms equally), so no PASS until that is explained")


def verdict_story(result: Any, weight: float | None = None) -> str:
    """One plain sentence on what the verdict means."""
    if not isinstance(result, dict):
        return "no verdict"
    metrics = result.get("metrics", [])
    split = _split_note(metrics, weight)
    failed = [f"{m['name']} {_change(c)}" for m in metrics for c in m.get("checks", []) if c["verdict"] == "FAIL"]
    open_ = [m["name"] for m in metrics if m["verdict"] in ("INCONCLUSIVE", "MARGINAL")]
    verdict = result["verdict"]
    if verdict == "PASS":
        return "PASS: every metric shown to be within its margin"
    if failed:
        return f"{verdict}: shown worse than allowed: {'; '.join(failed)}" + (
            f"; not decided yet: {', '.join(open_)}" if open_ else "") + split
    return (f"{verdict}: not decided yet ({', '.join(open_)}): too few requests for the margins; nothing shown "
            "worse" + split)


def window_for(seconds: float, slices: int = 10) -> str:
    """A judging window of whole slices, so the judge keeps its most recent data."""
    return f"{max(slices * 2, int(seconds) // slices * slices)}s"


def _cli(n: Narrator, argv: list[str], show: str = "out", lines: int = 0) -> CliRun:
    run = triton_slo(argv)
    n.command(argv)
    text = run.out if show == "out" else ""
    if lines:
        text = "\n".join(text.splitlines()[:lines])
    if text.strip():
        n.detail(text.rstrip(), indent=8)
    if run.err.strip():
        n.detail(run.err.rstrip(), indent=8)
    return run


def canary_verdict(n: Narrator, prometheus: str, spec: Path, extra: list[str]) -> tuple[CliRun, Any]:
    run = triton_slo(["canary", "--prometheus", prometheus, "--spec", str(spec), *extra, "--format", "json"])
    n.command(run.argv)
    result = run.json()
    n.detail(_verdict_lines(result) + f"   (exit {run.code})", indent=8)
    if run.err.strip():
        n.detail(run.err.rstrip(), indent=8)
    return run, result


# --- figures from Prometheus ------------------------------------------------------------------------


def _by_model(api: PromAPI, expr: str) -> dict[str, float]:
    return {s.labels.get("model", ""): s.value for s in api.query(expr)}


def model_costs(api: PromAPI, job: str, window: int, models: list[str]) -> tuple[list[tuple[Any, ...]], dict]:
    """Per model over the last ``window`` seconds: traffic, latency and compute per request, golden accuracy."""
    w, sel = f"{window}s", f'job="{job}"'

    def per_request(metric: str) -> str:
        return (f"sum by (model) (rate({metric}{{{sel}}}[{w}])) / "
                f"sum by (model) (rate(nv_inference_request_success{{{sel}}}[{w}]) > 0) / 1000")

    queries = {
        "requests_per_s": f"sum by (model) (rate(nv_inference_request_success{{{sel}}}[{w}]))",
        "probes_per_s": f"sum by (model) (rate(triton_slo_probe_requests_total[{w}]))",
        "mean_latency_ms": per_request("nv_inference_request_duration_us"),
        "compute_ms_per_request": per_request("nv_inference_compute_infer_duration_us"),
        "p99_ms": f'max by (model) (nv_inference_request_summary_us{{{sel}, quantile="0.99"}}) / 1000',
        "golden_accuracy": f"sum by (model) (increase(triton_slo_golden_correct_total[{w}])) / "
                           f"sum by (model) (increase(triton_slo_golden_total[{w}]) > 0)",
    }
    figures = {name: _by_model(api, expr) for name, expr in queries.items()}

    def cell(name: str, model: str, fmt: str) -> str:
        value = figures[name].get(model)
        return "no data" if value is None or value != value else format(value, fmt)

    rows = [(model, cell("requests_per_s", model, ".1f"), cell("probes_per_s", model, ".1f"),
             cell("mean_latency_ms", model, ".2f"),
             cell("compute_ms_per_request", model, ".2f"), cell("p99_ms", model, ".1f"),
             cell("golden_accuracy", model, ".3f")) for model in models]
    return rows, {"window_s": window, "promql": queries,
                  "figures": {k: {m: v for m, v in d.items() if m in models} for k, d in figures.items()}}


def memory_figures(api: PromAPI) -> dict[str, Any]:
    """What Prometheus knows about memory here: Triton's host memory, the GPU join per model."""
    per_model_gpu = ("DCGM_FI_DEV_FB_USED * on (UUID) group_left (model, version) triton_slo_model_gpu_info")
    host = api.query("max(nv_cpu_memory_used_bytes)")
    return {
        "triton_host_memory_used_bytes": host[0].value if host else None,
        "gpu_memory_per_model_promql": per_model_gpu,
        "gpu_memory_per_model": [{**s.labels, "value_mib": s.value} for s in api.query(per_model_gpu)],
        "replayed_gpu_fb_used_mib": [{"gpu": s.labels.get("gpu"), "modelName": s.labels.get("modelName"),
                                      "value_mib": s.value} for s in api.query("DCGM_FI_DEV_FB_USED")],
    }


# --- the webhook's view -------------------------------------------------------------------------------


def _alerts_since(webhook: Any, index: int) -> list[tuple[dict, dict]]:
    notes = list(webhook.alerts[index:])
    return [(note, alert) for note in notes for alert in note.get("alerts", [])]


def _page_key(alert: dict) -> tuple[str, str]:
    labels = alert.get("labels", {})
    return labels.get("alertname", ""), labels.get("tier", "")


def notifications(webhook: Any) -> list[dict[str, Any]]:
    """Every alert of every notification received, in order (for the summary)."""
    return [{"receiver": note.get("receiver"), "path": note.get("_path"), "status": alert.get("status"),
             "labels": alert.get("labels", {}), "annotations": alert.get("annotations", {}),
             "startsAt": alert.get("startsAt"), "endsAt": alert.get("endsAt")}
            for note in list(webhook.alerts) for alert in note.get("alerts", [])]


def alertmanager_view(alerts: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    """What Alertmanager holds for ``model`` (its /api/v2/alerts): active, or suppressed and why."""
    return sorted(({"alertname": a["labels"].get("alertname", ""), "tier": a["labels"].get("tier", "-"),
                    "severity": a["labels"].get("severity", ""), "state": a.get("status", {}).get("state", ""),
                    "inhibited": bool(a.get("status", {}).get("inhibitedBy"))}
                   for a in alerts if a.get("labels", {}).get("model") == model),
                  key=lambda a: (a["severity"], a["tier"]))


def notification_digest(received: list[dict[str, Any]]) -> str:
    """``receiver: alertname tier status`` for every distinct alert and status, in order of arrival."""
    seen: dict[tuple[str, str, str, str], None] = {}
    for item in received:
        labels = item["labels"]
        seen[(item.get("receiver") or "?", labels.get("alertname", "?"),
              labels.get("tier") or labels.get("model") or "-", item.get("status") or "?")] = None
    return "; ".join(" ".join(key) for key in seen) or "nothing"


# --- live mode -------------------------------------------------------------------------------------------


def prepare_demo_spec(n: Narrator, summary: Summary, out: Path, factor: float) -> Path:
    """The example spec with compressed windows, and everything generated for it."""
    live = out / "live"
    generated = live / "generated"
    doc = yaml.safe_load(EXAMPLE_SPEC.read_text())
    compressed, changes = compress_spec(doc, factor, (generated / "runbooks").resolve().as_uri())
    live.mkdir(parents=True, exist_ok=True)
    spec_path = live / "resnet-classifier-demo.yaml"
    spec_path.write_text(f"# {EXAMPLE_SPEC.name} with its alerting times divided by {factor:g} for the live demo "
                         "(slo/demo/compress.py).\n" + yaml.safe_dump(compressed, sort_keys=False))
    run = triton_slo(["generate", str(spec_path), "-o", str(generated), "--evaluation-interval", "1s"])
    n.command(run.argv)
    summary.step("generate")["demo_spec"] = {**run.record(keep_output=False), "spec": str(spec_path),
                                             "changes": changes}
    if run.code:
        raise DemoFailed(f"generate for the demo spec exited {run.code}: {run.err.strip()}")
    spec = load_spec(spec_path)
    availability = next(s for s in spec.slos if s.sli.kind == "availability")
    pages = [t for t in tiers_for(availability) if t.severity == "critical"]
    tiers = ", ".join(f"{decimal_text(t.factor)}x over {format_duration(t.long_window)}/"
                      f"{format_duration(t.short_window)}" for t in pages)
    n.detail(f"windows compressed for the demo (every alerting time / {factor:g}): SLO windows "
             + ", ".join(c.split(": window ")[1] for c in changes if ": window " in c)
             + f"; the {availability.name} SLO ({availability.objective}% over {availability.window.text}) "
             f"now pages at {tiers}; canary window {compressed['canary']['window']}, warm-up "
             f"{compressed['canary']['warmup']}; Alertmanager timers / {factor:g}. "
             "The files generated for examples/ keep the real windows.")
    n.detail(f"demo spec {spec_path}, its rules, routes and runbooks in {generated}")
    return spec_path


def _stack_settings(opts: Options, am_path: Path, rules: list[Path]) -> Any:
    from slo.demo.stack import StackSettings

    return StackSettings(workdir=opts.out / "work", alertmanager_config=am_path, rule_files=rules,
                         dcgm_recording=opts.dcgm_recording, triton_cache=opts.out / "triton-weights")


class Traffic:
    """Load generators for the service's models; ``split`` sends the canary its share."""

    def __init__(self, http_url: str, phases: Phases) -> None:
        self.http_url = http_url
        self.phases = phases
        self.loads: dict[str, Any] = {}
        self.stats: dict[str, dict[str, int]] = {}

    def _start(self, model: str, rate: float) -> None:
        from slo.stack.load import MAX_DURATION_S, LoadGenerator

        self.stop(model)
        load = LoadGenerator(self.http_url, model, rate, self.phases.batch, MAX_DURATION_S, threads=2)
        self.loads[model] = load.start()

    def stop(self, model: str) -> None:
        load = self.loads.pop(model, None)
        if load is not None:
            stats = load.stop()
            total = self.stats.setdefault(model, {"sent": 0, "succeeded": 0, "failed": 0})
            for key in total:
                total[key] += getattr(stats, key)

    def steady(self) -> None:
        self._start(BASELINE, self.phases.rate)
        self._start(SIDE_MODEL, self.phases.side_rate)

    def split(self, weight_percent: float) -> None:
        share = weight_percent / 100
        self._start(BASELINE, self.phases.rate * (1 - share))
        self._start(CANARY, self.phases.rate * share)

    def close(self) -> None:
        for model in list(self.loads):
            self.stop(model)

    def live_counts(self) -> str:
        parts = []
        for model, load in self.loads.items():
            parts.append(f"{model.removeprefix('resnet_')} {load.stats.succeeded}ok/{load.stats.failed}err")
        return " ".join(parts)


def run_live(opts: Options, n: Narrator, summary: Summary, inspect: Callable[[Any, Summary], None] | None) -> None:
    from slo.stack.webhook import WebhookReceiver

    out, phases = opts.out, opts.phases
    generate_examples(n, summary, out)
    spec_path = prepare_demo_spec(n, summary, out, opts.factor)
    generated = out / "live" / "generated"
    spec = load_spec(spec_path)
    weight = spec.canary.weight if spec.canary and spec.canary.weight else 10.0

    with contextlib.ExitStack() as stack:
        webhook = stack.enter_context(WebhookReceiver())
        n.header("start the stack")
        am_doc, am_notes = rewrite_alertmanager(yaml.safe_load((generated / "alertmanager.yaml").read_text()),
                                                webhook.base_url, opts.factor)
        am_path = out / "live" / "alertmanager-demo.yaml"
        am_path.write_text("# generated alertmanager.yaml, receivers pointed at the demo's webhook, timers "
                           f"/ {opts.factor:g}\n" + yaml.safe_dump(am_doc, sort_keys=False))
        rules = sorted((generated / "rules").glob("*.yaml"))
        n.detail("starting Triton (PyTriton, CPU; the first run trains the three residual models), the exporter, "
                 "Prometheus and Alertmanager ...")
        from slo.demo.stack import DemoStack

        live = stack.enter_context(DemoStack(_stack_settings(opts, am_path, rules), webhook))
        triton, prometheus, alertmanager = live.triton, live.prometheus, live.alertmanager
        traffic = Traffic(triton.http_url, phases)
        stack.callback(traffic.close)
        summary.data["components"] = {
            "triton": {"http": triton.http_url, "metrics": triton.metrics_url, "models": list(live.settings.models)},
            "exporter": {"url": live.exporter_url, "command": ["triton-slo", *live.exporter_command]},
            "prometheus": prometheus.url, "alertmanager": alertmanager.url, "webhook": webhook.base_url,
            "dcgm_recording": str(opts.dcgm_recording) if opts.dcgm_recording else None,
            "startup_seconds": live.startup_seconds,
            "rule_files": [str(r) for r in rules], "alertmanager_config": str(am_path),
        }
        n.detail(table([
            ("Triton", f"{triton.http_url} (metrics {triton.metrics_url})",
             f"{', '.join(live.settings.models)}"),
            ("exporter", live.exporter_url, "triton-slo export (a subprocess); probes every 250 ms per model and a "
             "32-image golden batch every 2 s (defaults 15 s, 30 s), so that minutes hold enough samples"),
            ("Prometheus", prometheus.url, f"{len(rules)} generated rule files, scrape/eval 1s"),
            ("Alertmanager", alertmanager.url, "generated routes; " + "; ".join(am_notes[:-1])),
            ("webhook", webhook.base_url, "in this process: where pages land"),
        ], ("component", "URL", "what")))
        n.detail(opts.dcgm_note)
        n.detail("start-up: " + ", ".join(f"{k} {v:.1f} s" for k, v in live.startup_seconds.items()))
        n.detail(f"logs: {opts.out / 'work'}/{{triton,exporter,prometheus,alertmanager}}")
        prom_url = prometheus.url
        api = PromAPI(prom_url)
        load_began = time.time()
        summary.data["load_began"] = load_began

        # 1. steady state ---------------------------------------------------------------------------
        n.header(f"steady state: {phases.rate:g} req/s to {BASELINE}, {phases.side_rate:g} req/s to {SIDE_MODEL} "
                 f"(batches of {phases.batch})")
        traffic.steady()
        n.wait(phases.steady_s, "steady load", traffic.live_counts)
        summary.step("steady")["at"] = time.time()
        status = _cli(n, ["status", str(spec_path), "--prometheus", prom_url])
        status_json = triton_slo(["status", str(spec_path), "--prometheus", prom_url, "--format", "json"]).json()
        would_fire = sorted({f"{s['slo']}:{t}" for s in (status_json or {}).get("slos", [])
                             for g in s["groups"] for t in g["would_fire"]})
        healthy = status.code == 0 and not would_fire
        summary.step("steady")["status"] = {**status.record(), "json": status_json, "would_fire": would_fire,
                                            "healthy": healthy}
        n.detail(f"-> exit {status.code}: " + ("every error budget healthy, no burn-rate tier would fire"
                                               if healthy else f"NOT healthy: would fire {would_fire}"))
        if not healthy:
            raise DemoFailed(f"steady state is not healthy: status exit {status.code}, would fire {would_fire}")

        # 2. canary ------------------------------------------------------------------------------------
        n.header(f"canary: {CANARY} takes {weight:g}% of the traffic ({BASELINE} keeps the rest)")
        traffic.split(weight)
        canary_began = time.time()
        n.wait(phases.canary_s, "canary rollout", traffic.live_counts)
        window = window_for(time.time() - canary_began)
        verdict_run, verdict = canary_verdict(n, prom_url, spec_path, ["--window", window])
        n.detail("-> " + verdict_story(verdict, weight)
                 + (". A rollout would stop here; the demo keeps the canary to show an incident."
                    if verdict and verdict.get("verdict") == "FAIL" else ""))
        rows, costs = model_costs(api, "triton", int(time.time() - canary_began), [BASELINE, CANARY])
        n.detail(f"cost of the deeper model, from Prometheus over the canary's {window}:")
        header = ("model", "req/s", "of which probes", "mean ms", "compute ms/req", "P99 ms", "golden acc")
        n.detail(table(rows, header), indent=8)
        memory = memory_figures(api)
        host = memory["triton_host_memory_used_bytes"]
        replayed = ", ".join(f"{m['value_mib']:.0f} MiB ({m['modelName']})" for m in memory["replayed_gpu_fb_used_mib"])
        n.detail("memory: Triton exports no per-model memory on a CPU host; per model it is GPU memory, "
                 f"`{memory['gpu_memory_per_model_promql']}`, which returns "
                 f"{len(memory['gpu_memory_per_model'])} series here (no GPU, so no model-to-GPU row); "
                 "memory in use on this host (Triton's nv_cpu_memory_used_bytes): "
                 + (f"{host / 2**20:.0f} MiB" if host else "no data")
                 + "; the replayed GPU's framebuffer in use: "
                 + (replayed or "none (no recording)") + " (a recording, not this host's models)")
        summary.step("canary").update({"began": canary_began, "weight_percent": weight, "window": window,
                                       "verdict": verdict,
                                       **verdict_run.record(keep_output=False), "costs": costs, "memory": memory})

        # 3. fault in the canary --------------------------------------------------------------------
        n.header(f"incident: the {opts.fault} fault is switched on in the canary: {FAULT_WORDS[opts.fault]}")
        seen_before = len(webhook.alerts)
        fault_at = time.time()
        params = triton.set_fault(CANARY, opts.fault, **FAULT_PARAMS[opts.fault])

        def page() -> list[tuple[dict, dict]] | None:
            found = [(note, a) for note, a in _alerts_since(webhook, seen_before)
                     if a.get("status") == "firing" and a["labels"].get("severity") == "critical"
                     and a["labels"].get("model") == CANARY]
            return found or None

        paged = n.until("waiting for the page at the webhook", phases.page_timeout_s, page)
        fault_step = summary.step("fault")
        fault_step.update({"at": fault_at, "fault": opts.fault, "params": params, "model": CANARY})
        if not paged:
            raise DemoFailed(f"no page for {CANARY} reached the webhook within {phases.page_timeout_s:g} s "
                             f"(received: {[_page_key(a) for _, a in _alerts_since(webhook, 0)]})")
        note, alert = paged[0]
        fault_step["seconds_to_page"] = round(time.time() - fault_at, 1)
        fault_step["page"] = {"receiver": note.get("receiver"), "status": alert["status"], "labels": alert["labels"],
                              "annotations": alert.get("annotations", {})}
        labels, annotations = alert["labels"], alert.get("annotations", {})
        runbook_url = annotations.get("runbook_url", "")
        n.detail(f"page after {fault_step['seconds_to_page']:.0f} s at receiver {note.get('receiver')}: "
                 f"{labels['alertname']} severity={labels['severity']} tier={labels.get('tier', '-')} "
                 f"slo={labels.get('slo', '-')} model={labels['model']}")
        n.detail(f"summary: {annotations.get('summary', '')}")
        n.detail(f"runbook_url: {runbook_url}" + _link_state(runbook_url))
        runbook = _cli(n, ["runbook", labels["alertname"]], lines=14)
        n.detail(f"... ({len(runbook.out.splitlines())} lines; the whole runbook is in summary.json)", indent=8)
        fault_step["runbook"] = runbook.record()
        left = phases.fault_s - (time.time() - fault_at)
        if left > 0:
            n.wait(left, "the canary keeps failing", traffic.live_counts)
        fail_run, fail_verdict = canary_verdict(
            n, prom_url, spec_path, ["--window", window_for(time.time() - canary_began)])
        n.detail("-> " + verdict_story(fail_verdict, weight))
        fault_step["canary"] = {"verdict": fail_verdict, **fail_run.record(keep_output=False)}
        held = alertmanager_view(alertmanager.alerts(), CANARY)
        fault_step["alertmanager"] = held
        n.detail("Alertmanager holds for " + CANARY + ": " + (", ".join(
            f"{a['alertname'].removeprefix('TritonSlo')} {a['tier']} {a['state']}"
            + (" (inhibited by the page)" if a["inhibited"] else "") for a in held) or "nothing"))

        # 4. rollback ----------------------------------------------------------------------------------
        fired = {_page_key(a) for _, a in _alerts_since(webhook, seen_before)
                 if a.get("status") == "firing" and a["labels"].get("model") == CANARY}
        n.header(f"rollback: {CANARY} is removed (no more traffic, unloaded from Triton); "
                 f"waiting for the burn to stop and the page to resolve")
        seen_before = len(webhook.alerts)
        rollback_at = time.time()
        traffic.stop(CANARY)
        traffic.steady()
        triton.unload_model(CANARY)

        def resolved() -> list[tuple[dict, dict]] | None:
            done = {_page_key(a): (note, a) for note, a in _alerts_since(webhook, seen_before)
                    if a.get("status") == "resolved" and a["labels"].get("model") == CANARY}
            return list(done.values()) if fired <= set(done) else None

        cleared = n.until("waiting for the resolved notification", phases.resolve_timeout_s, resolved)
        rollback = summary.step("rollback")
        rollback["at"] = rollback_at
        rollback["fired"] = sorted("/".join(k) for k in fired)
        rollback["canary_ready_after_unload"] = triton.model_ready(CANARY)
        rollback["triton_server_ready"] = _get_json(triton.http_url + "/v2/health/ready")[0] == 200
        if not cleared:
            raise DemoFailed(f"the page did not resolve within {phases.resolve_timeout_s:g} s of the rollback")
        rollback["seconds_to_resolve"] = round(time.time() - rollback_at, 1)
        rollback["resolved"] = [{"receiver": note.get("receiver"), "labels": a["labels"], "endsAt": a.get("endsAt")}
                                for note, a in cleared]
        n.detail(f"resolved after {rollback['seconds_to_resolve']:.0f} s: "
                 + ", ".join(f"{name} tier={tier}" for name, tier in sorted(fired))
                 + " (their short windows emptied of the canary's errors)")
        n.detail(f"{CANARY} ready: {_yes(rollback['canary_ready_after_unload'])}; Triton server ready: "
                 f"{_yes(rollback['triton_server_ready'])}" + ("" if rollback["triton_server_ready"] else
                 " (Triton, with strict readiness, reports the whole server not ready after the unload: a readiness "
                 "probe on /v2/health/ready would take it out of service)"))

        # wrap up: a control verdict, the on-call board, the record ----------------------------------
        n.header("wrap-up: a control verdict, the on-call board, the summary")
        n.detail(f"control: the same judge with {BASELINE} on both arms (an identical canary) over the whole run:")
        control_run, control = canary_verdict(
            n, prom_url, spec_path, ["--baseline", f'model="{BASELINE}"', "--canary", f'model="{BASELINE}"',
                                     "--window", window_for(time.time() - load_began), "--weight", "50"])
        n.detail("-> " + verdict_story(control))
        summary.step("control")["canary"] = {"verdict": control, **control_run.record(keep_output=False)}
        png = out / "oncall.png"
        snap = _cli(n, ["snapshot", "--prometheus", prom_url, "--spec", str(spec_path), "-o", str(png),
                        "--range", f"{int(time.time() - load_began) + 30}s", "--rate-interval", "20s"])
        summary.data["snapshot"] = {**snap.record(), "png": str(png) if png.is_file() else None}
        traffic.close()
        summary.data["load"] = traffic.stats
        summary.data["notifications"] = notifications(webhook)
        n.detail("the webhook received: " + notification_digest(summary.data["notifications"]))
        if any(item["labels"].get("severity") == "warning" for item in summary.data["notifications"]):
            n.detail("(tickets: the slow ticket tiers still see the incident in their longer windows; Alertmanager "
                     "held them back while the page fired and lets them through once it resolves)")
        checks = expectations(summary)
        summary.data["checks"] = checks
        summary.data["ok"] = all(checks.values())
        if inspect is not None:
            inspect(live, summary)
        n.detail("stopping everything ...")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _link_state(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return " (exists)" if Path(parts.path).is_file() else " (MISSING)"
    return ""


def expectations(summary: Summary) -> dict[str, bool]:
    """What the four steps must have shown, from what was recorded."""
    steps = summary.data["steps"]

    def verdict(entry: dict | None) -> str | None:
        return ((entry or {}).get("verdict") or {}).get("verdict")

    def metric(entry: dict | None, name: str) -> str | None:
        found = [m for m in ((entry or {}).get("verdict") or {}).get("metrics", []) if m["name"] == name]
        return found[0]["verdict"] if found else None

    fault = steps.get("fault", {})
    hit = FAULT_METRIC.get(fault.get("fault", ""), "")
    page = fault.get("page", {})
    return {
        "steady: status exit 0, no tier would fire": bool(steps.get("steady", {}).get("status", {}).get("healthy")),
        "canary: a verdict with reasons": verdict(steps.get("canary")) is not None,
        "fault: a page with a runbook_url reached the webhook": bool(page.get("annotations", {}).get("runbook_url")),
        "fault: the canary verdict is FAIL": verdict(fault.get("canary")) == "FAIL",
        f"fault: {hit} FAILs, and did not before the fault": (
            metric(fault.get("canary"), hit) == "FAIL" and metric(steps.get("canary"), hit) not in (None, "FAIL")),
        "fault: the runbook printed": steps.get("fault", {}).get("runbook", {}).get("exit_code") == 0,
        "rollback: the page resolved": bool(steps.get("rollback", {}).get("resolved")),
        "control: an identical canary PASSes": verdict(steps.get("control", {}).get("canary")) == "PASS",
    }


# --- on the user's servers -------------------------------------------------------------------------


def _get_json(url: str) -> tuple[int | None, Any]:
    try:
        response = requests.get(url, timeout=10)
    except requests.RequestException as exc:
        return None, f"cannot connect ({type(exc).__name__})"
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text[:200]


def run_remote(opts: Options, n: Narrator, summary: Summary) -> None:
    spec_path = opts.spec or EXAMPLE_SPEC
    generate_examples(n, summary, opts.out)
    spec = load_spec(spec_path)
    if opts.spec is not None:
        run = triton_slo(["generate", str(spec_path), "-o", str(opts.out / "generated-spec")])
        n.command(run.argv)
        summary.step("generate")["spec"] = run.record(keep_output=False)

    n.header("your servers (nothing is started, nothing is changed)")
    servers: dict[str, Any] = {"prometheus": opts.prometheus}
    if opts.triton:
        code, body = _get_json(opts.triton.rstrip("/") + "/v2/health/ready")
        ready = {m.name: _get_json(f"{opts.triton.rstrip('/')}/v2/models/{m.name}/ready")[0] == 200
                 for m in spec.service.models}
        servers["triton"] = {"url": opts.triton, "ready": code == 200, "models_ready": ready}
        state = "ready" if code == 200 else (f"not ready (HTTP {code})" if code else f"not reachable: {body}")
        n.detail(f"Triton {opts.triton}: {state}; models of "
                 f"{spec_path.name}: " + (", ".join(f"{m} {'ready' if r else 'NOT ready'}" for m, r in ready.items())
                                          or "none named"))
    alerts: list[dict] = []
    if opts.alertmanager:
        code, body = _get_json(opts.alertmanager.rstrip("/") + "/api/v2/alerts?active=true")
        alerts = [a for a in body if a.get("labels", {}).get("alertname", "").startswith("TritonSlo")] \
            if code == 200 and isinstance(body, list) else []
        servers["alertmanager"] = {"url": opts.alertmanager, "reachable": code == 200,
                                   "active_triton_slo_alerts": [a.get("labels") for a in alerts]}
        n.detail(f"Alertmanager {opts.alertmanager}: " + (f"{len(alerts)} active TritonSlo alert(s)" if code == 200
                                                          else f"not reachable: {body}"))
    summary.data["components"] = servers

    n.header(f"status: the error budgets of {spec.service.name}")
    status = _cli(n, ["status", str(spec_path), "--prometheus", opts.prometheus])
    summary.step("status")["status"] = status.record()

    n.header("canary verdict")
    if spec.canary:
        run, verdict = canary_verdict(n, opts.prometheus, spec_path, [])
        summary.step("canary").update({"verdict": verdict, **run.record(keep_output=False)})
    else:
        n.detail(f"skipped: {spec_path} has no canary section")
        summary.skip("canary verdict: the spec has no canary section")

    n.header("runbooks")
    names = sorted({a["labels"]["alertname"] for a in alerts}) or [PAGE_ALERT["errors"]]
    n.detail("for the active alerts:" if alerts else "no active alert read; the page this spec would send first:")
    runbooks = [_cli(n, ["runbook", name], lines=10).record() for name in names[:3]]
    summary.step("runbook")["runs"] = runbooks

    n.header("snapshot of the on-call board")
    png = opts.out / "oncall.png"
    snap = _cli(n, ["snapshot", "--prometheus", opts.prometheus, "--spec", str(spec_path), "-o", str(png),
                    "--range", "1h"])
    summary.data["snapshot"] = {**snap.record(), "png": str(png) if png.is_file() else None}
    for what in ("starting Triton, the exporter, Prometheus and Alertmanager (yours are used as they are)",
                 "driving load and the canary traffic split (your traffic is what it is)",
                 "fault injection (never done to someone else's Triton), so no scripted page and no resolution",
                 "time compression (your windows are the spec's real ones)"):
        summary.skip(what)
    hard_errors = [r for r in (status, snap) if r.code == 2]
    summary.data["ok"] = not hard_errors
