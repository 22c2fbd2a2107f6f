"""The live demo on a stack it starts itself: steady state, canary, incident, rollback, wrap-up.

Each step is one method of ``LiveDemo``; what it saw goes into the summary, and ``expectations``
says from that record whether each step happened as the script promises.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from triton_slo.burnrate import decimal_text, tiers_for
from triton_slo.durations import format_duration
from triton_slo.promapi import PromAPI
from triton_slo.readers import load_spec

from harness.demo.commands import triton_slo
from harness.demo.common import (
    EXAMPLE_SPEC,
    DemoFailed,
    Options,
    Summary,
    canary_verdict,
    cli_step,
    generate_examples,
    metric_of,
    verdict_of,
    verdict_story,
    window_for,
)
from harness.demo.compress import compress_spec, rewrite_alertmanager
from harness.demo.figures import (
    alertmanager_view,
    alerts_since,
    memory_figures,
    model_costs,
    notification_digest,
    notifications,
    page_key,
)
from harness.demo.narrate import Narrator, table

BASELINE, CANARY, SIDE_MODEL = "resnet_baseline", "resnet_deep", "resnet_concat"
FAULT_PARAMS: dict[str, dict[str, float]] = {"errors": {"fraction": 0.3}, "latency": {"delay_s": 0.1}}
FAULT_METRIC = {"errors": "error_ratio", "latency": "latency_p99"}  # the example's canary metric each fault hits
FAULT_WORDS = {"errors": "30% of the canary's requests fail (a residual block without its projection: "
                         "a shape error)",
               "latency": "every canary request waits 100 ms more"}
PAGE_ALERT = {"errors": "TritonSloAvailabilityBudgetBurn", "latency": "TritonSloLatencyBudgetBurn"}
PROBES_SPLIT = "the exporter's probes reach both arms equally"


def prepare_demo_spec(n: Narrator, summary: Summary, out: Path, factor: float) -> Path:
    """The example spec with compressed windows, and everything generated for it."""
    live = out / "live"
    generated = live / "generated"
    doc = yaml.safe_load(EXAMPLE_SPEC.read_text())
    compressed, changes = compress_spec(doc, factor, (generated / "runbooks").resolve().as_uri())
    live.mkdir(parents=True, exist_ok=True)
    spec_path = live / "resnet-classifier-demo.yaml"
    spec_path.write_text(f"# {EXAMPLE_SPEC.name} with its alerting times divided by {factor:g} for the live demo "
                         "(tests/harness/demo/compress.py).\n" + yaml.safe_dump(compressed, sort_keys=False))
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


class Traffic:
    """Load generators for the service's models; ``split`` sends the canary its share."""

    def __init__(self, http_url: str, opts: Options) -> None:
        self.http_url = http_url
        self.phases = opts.phases
        self.loads: dict[str, Any] = {}
        self.stats: dict[str, dict[str, int]] = {}

    def _start(self, model: str, rate: float) -> None:
        from harness.stack.load import MAX_DURATION_S, LoadGenerator

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
        return " ".join(f"{model.removeprefix('resnet_')} {load.stats.succeeded}ok/{load.stats.failed}err"
                        for model, load in self.loads.items())


class LiveDemo:
    """The script, one method per step, on the servers of ``stack`` (a started ``DemoStack``)."""

    def __init__(self, opts: Options, n: Narrator, summary: Summary, stack: Any, spec_path: Path) -> None:
        self.opts, self.n, self.summary, self.stack, self.spec_path = opts, n, summary, stack, spec_path
        self.phases = opts.phases
        self.triton, self.webhook = stack.triton, stack.webhook
        self.prometheus_url = stack.prometheus.url
        self.api = PromAPI(self.prometheus_url)
        spec = load_spec(spec_path)
        self.weight = spec.canary.weight if spec.canary and spec.canary.weight else 10.0
        self.traffic = Traffic(self.triton.http_url, opts)
        self.load_began = self.canary_began = 0.0
        self.fired: set[tuple[str, str]] = set()

    def canary(self, *extra: str) -> tuple[Any, Any]:
        return canary_verdict(self.n, self.prometheus_url, self.spec_path, list(extra))

    def steady(self) -> None:
        n, p = self.n, self.phases
        n.header(f"steady state: {p.rate:g} req/s to {BASELINE}, {p.side_rate:g} req/s to {SIDE_MODEL} "
                 f"(batches of {p.batch})")
        self.load_began = time.time()
        self.summary.data["load_began"] = self.load_began
        self.traffic.steady()
        n.wait(p.steady_s, "steady load", self.traffic.live_counts)
        step = self.summary.step("steady")
        step["at"] = time.time()
        argv = ["status", str(self.spec_path), "--prometheus", self.prometheus_url]
        status = cli_step(n, argv)
        status_json = triton_slo([*argv, "--format", "json"]).json()
        would_fire = sorted({f"{s['slo']}:{t}" for s in (status_json or {}).get("slos", [])
                             for g in s["groups"] for t in g["would_fire"]})
        healthy = status.code == 0 and not would_fire
        step["status"] = {**status.record(), "json": status_json, "would_fire": would_fire, "healthy": healthy}
        n.detail(f"-> exit {status.code}: " + (
            "every error budget healthy, no burn-rate tier would fire" if healthy else
            f"NOT healthy: would fire {', '.join(would_fire) or 'nothing'}. With {p.steady_s:g} s of history a "
            "short stall of this machine weighs on a whole (compressed) window; the demo goes on, this step "
            "counts as failed"))

    def canary_rollout(self) -> None:
        n = self.n
        n.header(f"canary: {CANARY} takes {self.weight:g}% of the traffic ({BASELINE} keeps the rest)")
        self.traffic.split(self.weight)
        self.canary_began = time.time()
        n.wait(self.phases.canary_s, "canary rollout", self.traffic.live_counts)
        window = window_for(time.time() - self.canary_began)
        run, verdict = self.canary("--window", window)
        n.detail("-> " + verdict_story(verdict, self.weight, PROBES_SPLIT)
                 + (". A rollout would stop here; the demo keeps the canary to show an incident."
                    if verdict_of({"verdict": verdict}) == "FAIL" else ""))
        rows, costs = model_costs(self.api, "triton", int(time.time() - self.canary_began), [BASELINE, CANARY])
        n.detail(f"cost of the deeper model, from Prometheus over the canary's {window}:")
        header = ("model", "req/s", "of which probes", "mean ms", "compute ms/req", "P99 ms", "golden acc")
        n.detail(table(rows, header), indent=8)
        memory = memory_figures(self.api)
        host = memory["triton_host_memory_used_bytes"]
        replayed = ", ".join(f"{m['value_mib']:.0f} MiB ({m['modelName']})" for m in memory["replayed_gpu_fb_used_mib"])
        n.detail("memory: Triton exports no per-model memory on a CPU host; per model it is GPU memory, "
                 f"`{memory['gpu_memory_per_model_promql']}`, which returns "
                 f"{len(memory['gpu_memory_per_model'])} series here (no GPU, so no model-to-GPU row); "
                 "memory in use on this host (Triton's nv_cpu_memory_used_bytes): "
                 + (f"{host / 2**20:.0f} MiB" if host else "no data")
                 + "; the replayed GPU's framebuffer in use: "
                 + (replayed or "none (no recording)") + " (a recording, not this host's models)")
        self.summary.step("canary").update({
            "began": self.canary_began, "weight_percent": self.weight, "window": window, "verdict": verdict,
            **run.record(keep_output=False), "costs": costs, "memory": memory})

    def incident(self) -> None:
        n, fault = self.n, self.opts.fault
        n.header(f"incident: the {fault} fault is switched on in the canary: {FAULT_WORDS[fault]}")
        seen_before = len(self.webhook.alerts)
        fault_at = time.time()
        params = self.triton.set_fault(CANARY, fault, **FAULT_PARAMS[fault])
        step = self.summary.step("fault")
        step.update({"at": fault_at, "fault": fault, "params": params, "model": CANARY})

        expected = PAGE_ALERT[fault]

        def page() -> list[tuple[dict, dict]] | None:
            return [(note, a) for note, a in alerts_since(self.webhook, seen_before)
                    if a.get("status") == "firing" and a["labels"].get("severity") == "critical"
                    and a["labels"].get("model") == CANARY and a["labels"].get("alertname") == expected] or None

        paged = n.until(f"waiting for {expected} at the webhook", self.phases.page_timeout_s, page)
        if not paged:
            raise DemoFailed(f"no {expected} page for {CANARY} reached the webhook within "
                             f"{self.phases.page_timeout_s:g} s (received: "
                             f"{[page_key(a) for _, a in alerts_since(self.webhook, 0)]})")
        note, alert = paged[0]
        labels, annotations = alert["labels"], alert.get("annotations", {})
        step["seconds_to_page"] = round(time.time() - fault_at, 1)
        step["page"] = {"receiver": note.get("receiver"), "status": alert["status"], "labels": labels,
                        "annotations": annotations}
        n.detail(f"page after {step['seconds_to_page']:.0f} s at receiver {note.get('receiver')}: "
                 f"{labels['alertname']} severity={labels['severity']} tier={labels.get('tier', '-')} "
                 f"slo={labels.get('slo', '-')} model={labels['model']}")
        n.detail(f"summary: {annotations.get('summary', '')}")
        runbook_url = annotations.get("runbook_url", "")
        n.detail(f"runbook_url: {runbook_url}" + _link_state(runbook_url))
        runbook = cli_step(n, ["runbook", labels["alertname"]], lines=14)
        n.detail(f"... ({len(runbook.out.splitlines())} lines; the whole runbook is in summary.json)", indent=8)
        step["runbook"] = runbook.record()
        left = self.phases.fault_s - (time.time() - fault_at)
        if left > 0:
            n.wait(left, "the canary keeps failing", self.traffic.live_counts)
        run, verdict = self.canary("--window", window_for(time.time() - self.canary_began))
        n.detail("-> " + verdict_story(verdict, self.weight, PROBES_SPLIT))
        step["canary"] = {"verdict": verdict, **run.record(keep_output=False)}
        held = alertmanager_view(self.stack.alertmanager.alerts(), CANARY)
        step["alertmanager"] = held
        n.detail(f"Alertmanager holds for {CANARY}: " + (", ".join(
            f"{a['alertname'].removeprefix('TritonSlo')} {a['tier']} {a['state']}"
            + (" (inhibited by the page)" if a["inhibited"] else "") for a in held) or "nothing"))
        self.fired = {page_key(a) for _, a in alerts_since(self.webhook, seen_before)
                      if a.get("status") == "firing" and a["labels"].get("model") == CANARY
                      and a["labels"].get("severity") == "critical"}

    def rollback(self) -> None:
        n = self.n
        n.header(f"rollback: {CANARY} is removed (no more traffic, unloaded from Triton); "
                 "waiting for the burn to stop and the page to resolve")
        seen_before = len(self.webhook.alerts)
        rollback_at = time.time()
        self.traffic.stop(CANARY)
        self.traffic.steady()
        self.triton.unload_model(CANARY)

        def resolved() -> list[tuple[dict, dict]] | None:
            done = {page_key(a): (note, a) for note, a in alerts_since(self.webhook, seen_before)
                    if a.get("status") == "resolved" and a["labels"].get("model") == CANARY}
            return [done[key] for key in sorted(self.fired)] if self.fired <= set(done) else None

        cleared = n.until("waiting for the resolved notification", self.phases.resolve_timeout_s, resolved)
        step = self.summary.step("rollback")
        step.update({"at": rollback_at, "fired": sorted("/".join(k) for k in self.fired),
                     "canary_ready_after_unload": self.triton.model_ready(CANARY),
                     "triton_server_ready": _server_ready(self.triton.http_url)})
        if not cleared:
            raise DemoFailed(f"the page did not resolve within {self.phases.resolve_timeout_s:g} s of the rollback")
        step["seconds_to_resolve"] = round(time.time() - rollback_at, 1)
        step["resolved"] = [{"receiver": note.get("receiver"), "labels": a["labels"], "endsAt": a.get("endsAt")}
                            for note, a in cleared]
        n.detail(f"resolved after {step['seconds_to_resolve']:.0f} s: "
                 + ", ".join(f"{name} tier={tier}" for name, tier in sorted(self.fired))
                 + " (their short windows emptied of the canary's errors)")
        n.detail(f"{CANARY} ready: {_yes(step['canary_ready_after_unload'])}; Triton server ready: "
                 f"{_yes(step['triton_server_ready'])}" + ("" if step["triton_server_ready"] else
                 " (Triton, with strict readiness, reports the whole server not ready after the unload: a readiness "
                 "probe on /v2/health/ready would take it out of service)"))

    def wrap_up(self) -> None:
        n, summary = self.n, self.summary
        n.header("wrap-up: a control verdict, the on-call board, the summary")
        n.detail(f"control: the same judge with {BASELINE} on both arms (an identical canary) over the whole run:")
        run, control = self.canary("--baseline", f'model="{BASELINE}"', "--canary", f'model="{BASELINE}"',
                                   "--window", window_for(time.time() - self.load_began), "--weight", "50")
        n.detail("-> " + verdict_story(control))
        summary.step("control")["canary"] = {"verdict": control, **run.record(keep_output=False)}
        png = self.opts.out / "oncall.png"
        snap = cli_step(n, ["snapshot", "--prometheus", self.prometheus_url, "--spec", str(self.spec_path),
                            "-o", str(png), "--range", f"{int(time.time() - self.load_began) + 30}s",
                            "--rate-interval", "20s"])
        summary.data["snapshot"] = {**snap.record(), "png": str(png) if png.is_file() else None}
        self.traffic.close()
        summary.data["load"] = self.traffic.stats
        summary.data["notifications"] = notifications(self.webhook)
        n.detail("the webhook received: " + notification_digest(summary.data["notifications"]))
        if any(item["labels"].get("severity") == "warning" for item in summary.data["notifications"]):
            n.detail("(tickets: the slow ticket tiers still see the incident in their longer windows; Alertmanager "
                     "held them back while the page fired and lets them through once it resolves)")
        summary.data["checks"] = expectations(summary)
        summary.data["ok"] = all(summary.data["checks"].values())


def _start_stack(opts: Options, n: Narrator, summary: Summary, exits: contextlib.ExitStack) -> Any:
    """The webhook, then every server with the generated files; narrated; stopped by ``exits``."""
    from harness.demo.stack import DemoStack, StackSettings
    from harness.stack.webhook import WebhookReceiver

    generated = opts.out / "live" / "generated"
    webhook = exits.enter_context(WebhookReceiver())
    n.header("start the stack")
    am_doc, am_notes = rewrite_alertmanager(yaml.safe_load((generated / "alertmanager.yaml").read_text()),
                                            webhook.base_url, opts.factor)
    am_path = opts.out / "live" / "alertmanager-demo.yaml"
    am_path.write_text("# generated alertmanager.yaml, receivers pointed at the demo's webhook, timers "
                       f"/ {opts.factor:g}\n" + yaml.safe_dump(am_doc, sort_keys=False))
    rules = sorted((generated / "rules").glob("*.yaml"))
    n.detail("starting Triton (PyTriton, CPU; the first run trains the three residual models), the exporter, "
             "Prometheus and Alertmanager ...")
    settings = StackSettings(workdir=opts.out / "work", alertmanager_config=am_path, rule_files=rules,
                             dcgm_recording=opts.dcgm_recording, triton_cache=opts.out / "triton-weights")
    stack = exits.enter_context(DemoStack(settings, webhook))
    triton, prometheus, alertmanager = stack.triton, stack.prometheus, stack.alertmanager
    summary.data["components"] = {
        "triton": {"http": triton.http_url, "metrics": triton.metrics_url, "models": list(settings.models)},
        "exporter": {"url": stack.exporter_url, "command": ["triton-slo", *stack.exporter_command]},
        "prometheus": prometheus.url, "alertmanager": alertmanager.url, "webhook": webhook.base_url,
        "dcgm_recording": str(opts.dcgm_recording) if opts.dcgm_recording else None,
        "startup_seconds": stack.startup_seconds, "rule_files": [str(r) for r in rules],
        "alertmanager_config": str(am_path),
    }
    receivers = [note for note in am_notes if note.startswith("receiver")]
    n.detail(table([
        ("Triton", f"{triton.http_url} (metrics {triton.metrics_url})", ", ".join(settings.models)),
        ("exporter", stack.exporter_url, "triton-slo export (a subprocess); probes every 200 ms per model and a "
         "32-image golden batch every 2 s (defaults 15 s, 30 s), so that minutes hold enough samples"),
        ("Prometheus", prometheus.url, f"{len(rules)} generated rule files, scrape/eval 1s"),
        ("Alertmanager", alertmanager.url, "generated routes; " + "; ".join(receivers)),
        ("webhook", webhook.base_url, "in this process: where pages land"),
    ], ("component", "URL", "what")))
    n.detail(opts.dcgm_note)
    n.detail("start-up: " + ", ".join(f"{k} {v:.1f} s" for k, v in stack.startup_seconds.items()))
    n.detail(f"logs: {opts.out / 'work'}/{{triton,exporter,prometheus,alertmanager}}")
    return stack


def run_live(opts: Options, n: Narrator, summary: Summary, inspect: Callable[[Any, Summary], None] | None) -> None:
    """The whole live demo; ``inspect(stack, summary)`` runs after the last step, before anything stops."""
    generate_examples(n, summary, opts.out)
    spec_path = prepare_demo_spec(n, summary, opts.out, opts.factor)
    with contextlib.ExitStack() as exits:
        stack = _start_stack(opts, n, summary, exits)
        demo = LiveDemo(opts, n, summary, stack, spec_path)
        exits.callback(demo.traffic.close)
        demo.steady()
        demo.canary_rollout()
        demo.incident()
        demo.rollback()
        demo.wrap_up()
        if inspect is not None:
            inspect(stack, summary)
        n.detail("stopping everything ...")


def _server_ready(http_url: str) -> bool:
    import requests

    try:
        return requests.get(http_url + "/v2/health/ready", timeout=5).status_code == 200
    except requests.RequestException:
        return False


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
    fault = steps.get("fault", {})
    hit = FAULT_METRIC.get(fault.get("fault", ""), "")
    after, before = metric_of(fault.get("canary"), hit), metric_of(steps.get("canary"), hit)

    def change(metric: dict | None) -> float:
        checks = (metric or {}).get("checks") or [{}]
        return checks[0].get("difference") or 0.0

    return {
        "steady: status exit 0, no tier would fire": bool(steps.get("steady", {}).get("status", {}).get("healthy")),
        "canary: a verdict with reasons": verdict_of(steps.get("canary")) is not None,
        "fault: a page with a runbook_url reached the webhook": bool(
            fault.get("page", {}).get("annotations", {}).get("runbook_url")),
        "fault: the runbook printed": fault.get("runbook", {}).get("exit_code") == 0,
        "fault: the canary verdict is FAIL": verdict_of(fault.get("canary")) == "FAIL",
        f"fault: {hit} FAILs, worse than before the fault": bool(
            after and after["verdict"] == "FAIL" and before and change(after) > change(before)),
        "rollback: every page that fired resolved": bool(steps.get("rollback", {}).get("resolved")),
        "control: an identical canary PASSes": verdict_of(steps.get("control", {}).get("canary")) == "PASS",
    }
