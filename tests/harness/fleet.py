"""The 1000-SLO fleet spec of the generate benchmark: a realistic mix over many models.

Shared by ``benchmarks/bench_generate.py`` and the output-identity test, which keeps the sha256 of
what ``generate`` writes for it.
"""

from __future__ import annotations

KINDS = ("availability", "availability", "availability", "latency-summary", "latency-summary",
         "latency-histogram", "accuracy", "ratio", "timeslice", "availability-versions")


def _sli(kind: str, i: int) -> str:
    if kind.startswith("availability"):
        return "      availability: {exclude_reasons: [CANCELED]}\n" if i % 2 else "      availability: {}\n"
    if kind == "latency-summary":
        return (f"      latency: {{threshold: {(25, 50, 100)[i % 3]}ms, source: summary, quantile: 0.99, "
                "slice: 1m}\n")
    if kind == "latency-histogram":
        return "      latency: {threshold: 50ms, source: histogram, metric: triton_slo_probe_latency_seconds}\n"
    if kind == "accuracy":
        return "      accuracy: {}\n"
    if kind == "ratio":
        return ("      ratio:\n"
                f"        total: sum(rate(http_requests_total{{job=\"gateway\",route=\"/r{i}\"}}[{{{{.window}}}}]))\n"
                f"        bad: sum(rate(http_requests_total{{job=\"gateway\",route=\"/r{i}\",code=~\"5..\"}}"
                "[{{.window}}]))\n")
    return ("      timeslice:\n"
            f"        query: min by (gpu, UUID) (triton_slo_gpu_memory_headroom_ratio{{gpu=\"{i % 8}\"}})\n"
            "        op: \">=\"\n        threshold: 0.1\n        slice: 1m\n")


def spec_text(slos: int, models: int) -> str:
    """A triton-slo spec with ``slos`` SLOs over ``models`` models (each SLO covers one or two)."""
    lines = [
        "version: triton-slo/v1",
        "service:",
        "  name: bench-fleet",
        "  description: A large fleet of residual classifiers.",
        "  team: ml-platform",
        "  runbook_base_url: https://git.example.com/ml-platform/runbooks/blob/main",
        "  dashboard_base_url: https://grafana.example.com",
        "  triton: {job: triton}",
        "  dcgm: {job: dcgm-exporter}",
        "  exporter: {job: triton-slo}",
        "  labels: {priority: p1}",
        "  models:",
    ]
    for m in range(models):
        lines.append(f"    - name: resnet_{m}" + ("\n      versions: ['1', '2']" if m % 5 == 0 else ""))
    lines.append("slos:")
    for i in range(slos):
        kind = KINDS[i % len(KINDS)]
        model = i % models
        window = ("30d", "28d", "7d")[i % 3]
        objective = ("99.9", "99", "99.5", "95")[i % 4] if kind != "accuracy" else "95"
        lines += [f"  - name: {kind}-{i}",
                  f"    description: SLO {i} of the fleet ({kind}).",
                  f"    objective: {objective}",
                  f"    window: {window}"]
        if kind in ("availability", "latency-summary", "latency-histogram", "accuracy"):
            lines.append(f"    models: [resnet_{model}" + (f", resnet_{(model + 1) % models}]" if i % 4 == 0 else "]"))
        elif kind == "availability-versions":
            versioned = (model // 5) * 5
            lines.append(f"    models: [{{name: resnet_{versioned}, versions: ['2']}}]")
        lines.append("    sli:")
        lines.append(_sli(kind, i).rstrip("\n"))
        if kind.startswith("availability"):
            lines.append("    alerting: {min_events: 20, no_traffic_for: 15m}" if i % 7 == 0 else
                         "    alerting: {min_events: 20}")
        elif kind in ("accuracy", "timeslice") or i % 11 == 0:
            lines.append("    alerting: {page: false}")
        if i % 13 == 0:
            lines.append(f"    labels: {{owner: team-{i % 4}}}")
    lines += [
        "alerting:",
        "  receivers:",
        "    - {name: pager, type: pagerduty, routing_key_file: /etc/alertmanager/secrets/pd}",
        "    - {name: tickets, type: slack, url_file: /etc/alertmanager/secrets/slack, channel: '#ml'}",
        "  page_receiver: pager",
        "  ticket_receiver: tickets",
        "  group_by: [service, slo, model, version]",
        "  mute_intervals:",
        "    - name: weekly-retraining",
        "      severities: [warning]",
        "      times:",
        "        - weekdays: [sunday]",
        "          times: [{start_time: '02:00', end_time: '04:00'}]",
        "  thresholds: {p99_warning: 40ms, p99_critical: 100ms, memory_headroom_warning: 0.1, "
        "accuracy_warning: 0.95, queue_time_warning: 20ms}",
        "canary:",
        "  label: model",
        "  baseline: resnet_0",
        "  canary: resnet_1",
        "  window: 30m",
        "  metrics:",
        "    - {name: error_ratio, critical: true}",
        "    - {name: latency_p99, margin: 10%, critical: true}",
        "    - {name: accuracy, direction: decrease, margin: '0.01'}",
    ]
    return "\n".join(lines) + "\n"
