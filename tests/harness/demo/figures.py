"""Figures the demo reads from the real components: Prometheus's query API, Alertmanager's alerts,
the notifications its webhook received."""

from __future__ import annotations

from typing import Any

from triton_slo.promapi import PromAPI


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


def alerts_since(webhook: Any, index: int) -> list[tuple[dict, dict]]:
    notes = list(webhook.alerts[index:])
    return [(note, alert) for note in notes for alert in note.get("alerts", [])]


def page_key(alert: dict) -> tuple[str, str]:
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
