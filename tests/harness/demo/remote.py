"""``--no-stack``: what the demo can do against a user's own Triton, Prometheus and Alertmanager.

Nothing is started and nothing is changed there: no load, no canary split, no fault injection.
"""

from __future__ import annotations

from typing import Any

import requests
from triton_slo.readers import load_spec

from harness.demo.commands import triton_slo
from harness.demo.common import EXAMPLE_SPEC, Options, Summary, canary_verdict, cli_step, generate_examples
from harness.demo.narrate import Narrator

EXAMPLE_PAGE = "TritonSloAvailabilityBudgetBurn"  # shown when no active alert says which runbook matters


def get_json(url: str) -> tuple[int | None, Any]:
    """(HTTP status, JSON body) of a GET, or (None, why) when it could not connect."""
    try:
        response = requests.get(url, timeout=10)
    except requests.RequestException as exc:
        return None, f"cannot connect ({type(exc).__name__})"
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text[:200]


def run_remote(opts: Options, n: Narrator, summary: Summary) -> None:
    """generate, a look at the servers, status, canary verdict, runbooks, snapshot; and what was skipped."""
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
        code, body = get_json(opts.triton.rstrip("/") + "/v2/health/ready")
        ready = {m.name: get_json(f"{opts.triton.rstrip('/')}/v2/models/{m.name}/ready")[0] == 200
                 for m in spec.service.models}
        servers["triton"] = {"url": opts.triton, "ready": code == 200, "models_ready": ready}
        state = "ready" if code == 200 else (f"not ready (HTTP {code})" if code else f"not reachable: {body}")
        n.detail(f"Triton {opts.triton}: {state}; models of "
                 f"{spec_path.name}: " + (", ".join(f"{m} {'ready' if r else 'NOT ready'}" for m, r in ready.items())
                                          or "none named"))
    alerts: list[dict] = []
    if opts.alertmanager:
        code, body = get_json(opts.alertmanager.rstrip("/") + "/api/v2/alerts?active=true")
        alerts = [a for a in body if a.get("labels", {}).get("alertname", "").startswith("TritonSlo")] \
            if code == 200 and isinstance(body, list) else []
        servers["alertmanager"] = {"url": opts.alertmanager, "reachable": code == 200,
                                   "active_triton_slo_alerts": [a.get("labels") for a in alerts]}
        n.detail(f"Alertmanager {opts.alertmanager}: " + (f"{len(alerts)} active TritonSlo alert(s)" if code == 200
                                                          else f"not reachable: {body}"))
    summary.data["components"] = servers

    n.header(f"status: the error budgets of {spec.service.name}")
    status = cli_step(n, ["status", str(spec_path), "--prometheus", opts.prometheus])
    summary.step("status")["status"] = status.record()

    n.header("canary verdict")
    if spec.canary:
        run, verdict = canary_verdict(n, opts.prometheus, spec_path, [])
        summary.step("canary").update({"verdict": verdict, **run.record(keep_output=False)})
    else:
        n.detail(f"skipped: {spec_path} has no canary section")
        summary.skip("canary verdict: the spec has no canary section")

    n.header("runbooks")
    names = sorted({a["labels"]["alertname"] for a in alerts}) or [EXAMPLE_PAGE]
    n.detail("for the active alerts:" if alerts else "no active alert read (no --alertmanager, or none firing); "
             "the availability page's runbook as an example:")
    runbooks = [cli_step(n, ["runbook", name], lines=10).record() for name in names[:3]]
    summary.step("runbook")["runs"] = runbooks

    n.header("snapshot of the on-call board")
    png = opts.out / "oncall.png"
    snap = cli_step(n, ["snapshot", "--prometheus", opts.prometheus, "--spec", str(spec_path), "-o", str(png),
                    "--range", "1h"])
    summary.data["snapshot"] = {**snap.record(), "png": str(png) if png.is_file() else None}
    for what in ("starting Triton, the exporter, Prometheus and Alertmanager (yours are used as they are)",
                 "driving load and the canary traffic split (your traffic is what it is)",
                 "fault injection (never done to someone else's Triton), so no scripted page and no resolution",
                 "time compression (your windows are the spec's real ones)"):
        summary.skip(what)
    hard_errors = [r for r in (status, snap) if r.code == 2]
    summary.data["ok"] = not hard_errors
