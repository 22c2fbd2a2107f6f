"""Benchmark of the SLO engine: generation time for 1000 SLOs, and rule cost next to Sloth's.

    .venv/bin/python benchmarks/bench_rules.py [--slos 1000] [--live-slos 50] [--live-seconds 20]

1. Time to generate everything (`triton_slo.pipeline.generate`: rules, promtool tests and every
   other generator present) for a spec with ``--slos`` SLOs of every kind.
2. Rule cost per SLO of availability SLOs, ours against Sloth-shaped rules for the same SLIs
   (same selectors, ``sum by (model, version)``; the shapes are those of Sloth's generated
   examples, examples/_gen/getting-started.yml in slok/sloth: one raw-series ratio rule per
   window 5m..3d, the 30d ratio as sum_over_time/count_over_time of ratio_rate5m, seven meta
   rules and one page and one ticket alert):
   - series each rule set records, per SLO and per model;
   - samples read per evaluation in steady state (30 days of history, 30s evaluation, 15s scrape,
     ``--raw-series`` raw Triton series per model), counted from the range selectors of the rules;
   - live, in a real Prometheus (the Debian binary) scraping Triton-format counters for
     ``--live-slos`` models with three rule sets loaded side by side: ours (the period rules in a
     group of their own every 8 evaluations), ours as one group per SLO (as before that split)
     and Sloth-shaped. ``--history-hours`` of raw counters *and* of the recorded series the long
     ranges read are backfilled first, so the period reads find history. Reported: series
     created, and rule evaluation seconds per second of Prometheus (each group's
     ``prometheus_rule_group_last_duration_seconds`` over its
     ``prometheus_rule_group_interval_seconds``), median over the run's second half, per run
     and the median ratio over ``--repeat`` runs. The machine is noisy: compare ratios, not
     absolute times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import promql_parser

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness

from triton_slo import (
    pipeline,  # noqa: E402
    rules,  # noqa: E402
)
from triton_slo.artifacts import Options  # noqa: E402
from triton_slo.burnrate import WORKBOOK_TIERS, decimal_text, threshold  # noqa: E402
from triton_slo.durations import format_duration, parse_duration  # noqa: E402
from triton_slo.model import (  # noqa: E402
    SLO,
    AccuracySLI,
    AvailabilitySLI,
    LatencySLI,
    ModelRef,
    RatioSLI,
    Service,
    SLOAlerting,
    Spec,
    TimesliceSLI,
    Window,
)
from triton_slo.output.writers import yaml_text  # noqa: E402
from triton_slo.rulefiles import build_rule_files  # noqa: E402
from triton_slo.rules import spec_rules  # noqa: E402

DAY = 86400


def big_spec(count: int) -> Spec:
    """``count`` SLOs over as many models, every SLI kind represented."""
    slos = []
    for i in range(count):
        model = (ModelRef(f"resnet_{i}"),)
        kind = i % 10
        if kind < 4:
            sli = AvailabilitySLI(("CANCELED",))
        elif kind < 6:
            sli = LatencySLI(0.05, "summary", quantile=0.99)
        elif kind < 7:
            sli = LatencySLI(0.05, "histogram", metric="triton_slo_probe_latency_seconds")
        elif kind < 8:
            sli = AccuracySLI()
        elif kind < 9:
            sli = RatioSLI(total=f'sum(rate(http_requests_total{{route="r{i}"}}[{{{{.window}}}}]))',
                           bad=f'sum(rate(http_requests_total{{route="r{i}",code=~"5.."}}[{{{{.window}}}}]))')
        else:
            sli = TimesliceSLI(f'min(triton_slo_gpu_memory_headroom_ratio{{gpu="{i % 8}"}})', ">=", 0.1)
        days = (30, 28, 7)[i % 3]
        slos.append(SLO(f"slo-{i}", Decimal(("99.9", "99", "99.5")[i % 3]), Window(days * DAY, f"{days}d"), sli,
                        models=model, alerting=SLOAlerting(min_events=20 if kind < 4 else 0,
                                                           no_traffic_for=900 if i < 10 else 0)))
    service = Service(name="bench", triton_selector={"job": "triton"}, exporter_selector={"job": "triton-slo"},
                      models=tuple(ModelRef(f"resnet_{i}") for i in range(count)))
    return Spec(service=service, slos=tuple(slos))


def availability_spec(count: int, name: str = "bench") -> Spec:
    slos = tuple(SLO(f"availability-{i}", Decimal("99.9"), Window(30 * DAY, "30d"), AvailabilitySLI(),
                     models=(ModelRef(f"resnet_{i}"),)) for i in range(count))
    service = Service(name=name, triton_selector={"job": "triton"},
                      models=tuple(ModelRef(f"resnet_{i}") for i in range(count)))
    return Spec(service=service, slos=slos)


# --- Sloth-shaped rules for the same SLIs ------------------------------------------------------

SLOTH_WINDOWS = (300, 1800, 3600, 7200, 21600, 86400, 259200)


def sloth_groups(spec: Spec) -> list[dict]:
    groups = []
    for slo in spec.slos:
        q = rules.plan(spec, slo).queries
        sid = f"{spec.service.name}-{slo.name}"
        labels = {"sloth_id": sid, "sloth_service": spec.service.name, "sloth_slo": slo.name}
        match = ", ".join(f'{k}="{v}"' for k, v in labels.items())
        budget = float(slo.error_budget)  # Sloth writes the float artefact (0.0009999999999999432)
        recs = [{"record": f"slo:sli_error:ratio_rate{format_duration(w)}",
                 "expr": f"({q.errors(w)})\n/\n({q.events(w)})",
                 "labels": {**labels, "sloth_window": format_duration(w)}} for w in SLOTH_WINDOWS]
        recs.append({"record": "slo:sli_error:ratio_rate30d",
                     "expr": f"sum_over_time(slo:sli_error:ratio_rate5m{{{match}}}[30d])\n/ ignoring (sloth_window)\n"
                             f"count_over_time(slo:sli_error:ratio_rate5m{{{match}}}[30d])",
                     "labels": {**labels, "sloth_window": "30d"}})
        meta = [
            {"record": "slo:objective:ratio", "expr": f"vector({float(slo.objective_ratio)!r})", "labels": labels},
            {"record": "slo:error_budget:ratio", "expr": f"vector(1-{float(slo.objective_ratio)!r})", "labels": labels},
            {"record": "slo:time_period:days", "expr": "vector(30)", "labels": labels},
            {"record": "slo:current_burn_rate:ratio",
             "expr": f"slo:sli_error:ratio_rate5m{{{match}}}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
                     f"slo:error_budget:ratio{{{match}}}", "labels": labels},
            {"record": "slo:period_burn_rate:ratio",
             "expr": f"slo:sli_error:ratio_rate30d{{{match}}}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
                     f"slo:error_budget:ratio{{{match}}}", "labels": labels},
            {"record": "slo:period_error_budget_remaining:ratio", "expr": f"1 - slo:period_burn_rate:ratio{{{match}}}",
             "labels": labels},
            {"record": "sloth_slo_info", "expr": "vector(1)",
             "labels": {**labels, "sloth_objective": str(slo.objective)}},
        ]

        def cond(long: int, short: int, factor: str, match: str = match, budget: float = budget) -> str:
            return (f"(max(slo:sli_error:ratio_rate{format_duration(short)}{{{match}}} > ({factor} * {budget!r})) "
                    f"without (sloth_window)\nand\nmax(slo:sli_error:ratio_rate{format_duration(long)}{{{match}}} > "
                    f"({factor} * {budget!r})) without (sloth_window))")

        t = WORKBOOK_TIERS
        alerts = [
            {"alert": "SlothPage", "expr": f"{cond(t[0].long_window, t[0].short_window, '14.4')}\nor\n"
                                          f"{cond(t[1].long_window, t[1].short_window, '6')}",
             "labels": {"sloth_severity": "page"}},
            {"alert": "SlothTicket", "expr": f"{cond(t[2].long_window, t[2].short_window, '3')}\nor\n"
                                            f"{cond(t[3].long_window, t[3].short_window, '1')}",
             "labels": {"sloth_severity": "ticket"}},
        ]
        groups.append({"name": f"sloth-slo-{sid}", "rules": recs + meta + alerts})
    return groups


# --- static cost -------------------------------------------------------------------------------


def _recorded_is_per_model(expr: str) -> bool:
    return not expr.startswith("vector(")


def series_per_slo(groups: list[dict]) -> tuple[float, float]:
    """(series per model, series per SLO) the recording rules create, per SLO."""
    per_model = per_slo = 0
    for group in groups:
        for rule in group["rules"]:
            if "record" in rule:
                if _recorded_is_per_model(rule["expr"]):
                    per_model += 1
                else:
                    per_slo += 1
    return per_model / len(groups), per_slo / len(groups)


def _ranges(expr: str) -> list[tuple[str, float]]:
    """(metric name or '' for raw selectors, range seconds) of every range selector in an expression."""
    out = []

    def visit(node) -> None:
        if isinstance(node, promql_parser.MatrixSelector):
            name = node.vector_selector.name or ""
            out.append((name, node.range.total_seconds()))
            return
        for attr in ("expr", "lhs", "rhs", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (str, int, float)):
                try:
                    visit(child)
                except TypeError:
                    pass
        for arg in getattr(node, "args", None) or ():
            visit(arg)

    visit(promql_parser.parse(expr))
    return out


def samples_read_per_model(groups: list[dict], raw_series: int, scrape: float, evaluation: float) -> float:
    """Samples read per model per evaluation interval in steady state (a group with a longer
    ``interval`` counts for the share of evaluations it runs in)."""
    total = 0.0
    for group in groups:
        share = evaluation / parse_duration(group["interval"]) if "interval" in group else 1.0
        for rule in group["rules"]:
            for name, seconds in _ranges(rule["expr"]):
                recorded = name.startswith("slo:")
                total += share * (1 if recorded else raw_series) * seconds / (evaluation if recorded else scrape)
    return total


# --- live measurement ------------------------------------------------------------------------


def _triton_text(models: int, k: int) -> str:
    lines = ["# TYPE nv_inference_request_success counter"]
    lines += [f'nv_inference_request_success{{model="resnet_{i}",version="1"}} {100 * k}' for i in range(models)]
    lines.append("# TYPE nv_inference_request_failure counter")
    lines += [f'nv_inference_request_failure{{model="resnet_{i}",version="1",reason="BACKEND"}} {k}'
              for i in range(models)]
    return "\n".join(lines) + "\n"


# The rule sets measured side by side in one Prometheus: (family, service name, group name prefix).
FAMILIES = (("ours", "bench", "triton-slo-bench-"), ("ours-one-group", "single", "triton-slo-single-"),
            ("sloth", "bench", "sloth-slo-"))


def _history_lines(models: int, stamps: range) -> list[str]:
    """Raw Triton counters, and what the rules record from them (at the history's step), so that
    the long-range reads of recorded series (the period ratio) find as much history as in steady state."""
    lines = []
    step = stamps.step
    for name, per_step, extra in (("nv_inference_request_success", 100, ""),
                                  ("nv_inference_request_failure", 1, ',reason="BACKEND"')):
        for i in range(models):
            series = f'{name}{{job="triton",model="resnet_{i}",version="1"{extra}}}'
            lines += [f"{series} {per_step * k} {t}" for k, t in enumerate(stamps)]
    for i in range(models):
        ids = f'model="resnet_{i}",version="1"'
        for service in ("bench", "single"):
            slo = f'service="{service}",slo="availability-{i}",{ids}'
            for name, value in (("slo:sli_errors:rate5m", 1 / step), ("slo:sli_events:rate5m", 101 / step)):
                lines += [f"{name}{{{slo}}} {value!r} {t}" for t in stamps]
        sloth = (f'sloth_id="bench-availability-{i}",sloth_service="bench",sloth_slo="availability-{i}",'
                 f'sloth_window="5m",{ids}')
        lines += [f"slo:sli_error:ratio_rate5m{{{sloth}}} {1 / 101!r} {t}" for t in stamps]
    return lines


def backfill(models: int, hours: float, data_dir: Path, step: int = 30) -> int:
    """Write ``hours`` of history (one sample every ``step`` s) as TSDB blocks.

    Returns the counter index the live series continue from.
    """
    import subprocess

    end = int(time.time()) - 120
    stamps = range(end - int(hours * 3600), end, step)
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "history.om"
    source.write_text("\n".join(_history_lines(models, stamps)) + "\n# EOF\n")
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(source), str(data_dir)],
                   check=True, capture_output=True, timeout=600)
    source.unlink()
    return len(stamps)


def _group_metrics(url: str) -> dict[str, tuple[float, float, float]]:
    """(last evaluation duration, interval, last evaluation time) in seconds by group name, from
    Prometheus's own /metrics."""
    import requests

    found: dict[str, dict[str, float]] = {}
    names = {"prometheus_rule_group_last_duration_seconds{": "duration",
             "prometheus_rule_group_interval_seconds{": "interval",
             "prometheus_rule_group_last_evaluation_timestamp_seconds{": "at"}
    for line in requests.get(f"{url}/metrics", timeout=10).text.splitlines():
        for prefix, key in names.items():
            if line.startswith(prefix):
                labels, value = line.rsplit(" ", 1)
                group = labels.split('rule_group="', 1)[1].split('"', 1)[0].split(";", 1)[1]
                found.setdefault(group, {})[key] = float(value)
    return {g: (v.get("duration", 0.0), v.get("interval", 1.0), v.get("at", 0.0)) for g, v in found.items()}


def live(count: int, seconds: float, history_hours: float, evaluation: int) -> dict[str, dict[str, float]]:
    """One Prometheus with three rule sets for the same SLIs: ours (period rules in their own slower
    group), ours as one group per SLO (everything at every evaluation), and Sloth-shaped rules."""
    import yaml
    from harness.stack.prometheus import Prometheus
    from harness.stack.replay import ReplayServer

    ours = rules.spec_rules(availability_spec(count), evaluation).file_groups()
    one_group = rules.spec_rules(availability_spec(count, "single"), evaluation).slo_groups()
    sloth = sloth_groups(availability_spec(count))
    folder = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    (folder / "ours.yaml").write_text(yaml_text({"groups": ours}))
    (folder / "one-group.yaml").write_text(yaml_text({"groups": one_group}))
    (folder / "sloth.yaml").write_text(yaml.safe_dump({"groups": sloth}, sort_keys=False))
    metrics = folder / "metrics.prom"
    k = backfill(count, history_hours, folder / "prometheus" / "data") if history_hours > 0 else 0
    metrics.write_text(_triton_text(count, k))
    samples: dict[str, list[float]] = {family: [] for family, _, _ in FAMILIES}
    per_evaluation: dict[str, list[float]] = {family: [] for family, _, _ in FAMILIES}
    with ReplayServer({"/metrics": metrics}) as replay, Prometheus(
            [{"job": "triton", "url": replay.url("/metrics")}],
            rule_files=[folder / "ours.yaml", folder / "one-group.yaml", folder / "sloth.yaml"],
            scrape_interval="1s", evaluation_interval=f"{evaluation}s", workdir=folder / "prometheus") as prom:
        start = time.time()
        while time.time() - start < seconds:
            k += 1
            (folder / "next.prom").write_text(_triton_text(count, k))
            (folder / "next.prom").replace(metrics)
            time.sleep(1)
            groups = _group_metrics(prom.url)
            # Measured once every group has run (the period groups start within their interval).
            if time.time() - start > seconds / 2 and groups and all(at > 0 for _, _, at in groups.values()):
                for family, _, prefix in FAMILIES:
                    mine = [v for group, v in groups.items() if group.startswith(prefix)]
                    # Evaluation seconds per second: each group's last duration over its interval.
                    samples[family].append(sum(d / i for d, i, _ in mine))
                    per_evaluation[family].append(sum(d for d, _, _ in mine))
        series = {family: prom.query(f'count({{__name__=~"slo:.+|sloth_slo_info", '
                                     f'{"sloth_service" if family == "sloth" else "service"}="{service}"}})')
                  for family, service, _ in FAMILIES}
    out = {}
    for family, _, _ in FAMILIES:
        out[family] = {
            "eval_per_second": statistics.median(samples[family]) if samples[family] else float("nan"),
            "eval_per_round": statistics.median(per_evaluation[family]) if per_evaluation[family] else float("nan"),
            "series": float(series[family][0]["value"][1]) if series[family] else 0.0,
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--live-slos", type=int, default=50, help="0 skips the live Prometheus measurement")
    parser.add_argument("--live-seconds", type=float, default=120,
                        help="each live run; measured in its second half, once every group has run")
    parser.add_argument("--live-evaluation", type=int, default=5,
                        help="evaluation interval of the live runs, seconds (the period groups run every "
                             "8 of them); long enough that the 2-core machine is not saturated, or every "
                             "group's duration is just the wait for a CPU")
    parser.add_argument("--history-hours", type=float, default=20,
                        help="raw history backfilled before the live run (Prometheus keeps 1d)")
    parser.add_argument("--repeat", type=int, default=3, help="live runs (each a fresh Prometheus); the median "
                        "ratio is reported")
    parser.add_argument("--raw-series", type=int, default=5,
                        help="raw Triton series per model (success + one failure per reason)")
    args = parser.parse_args()

    spec = big_spec(args.slos)
    with tempfile.TemporaryDirectory() as out:
        started, cpu = time.perf_counter(), time.process_time()
        made = [spec_rules(spec, 30)]
        build_rule_files(made)
        print(f"  SLO rules: {time.perf_counter() - started:.2f} s wall, {time.process_time() - cpu:.2f} s CPU")
        started, cpu = time.perf_counter(), time.process_time()
        pipeline.build_rule_tests(made, Options())
        print(f"  SLO rule tests: {time.perf_counter() - started:.2f} s wall, {time.process_time() - cpu:.2f} s CPU")
        started, cpu = time.perf_counter(), time.process_time()
        _, written = pipeline.generate([spec], Path(out), Options())
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        size = sum(f.stat().st_size for f in written)
    print(f"generate everything, {args.slos} SLOs of every kind: {elapsed:.2f} s wall, {cpu:.2f} s CPU "
          f"({len(written)} files, {size / 1e6:.1f} MB)")

    spec = availability_spec(100)
    made = rules.spec_rules(spec, 30)
    ours, one_group = made.file_groups(), made.slo_groups()  # the same rules, laid out two ways
    sloth = sloth_groups(spec)
    o_model, o_slo = series_per_slo(one_group)  # the same rules as ``ours``, one group per SLO
    s_model, s_slo = series_per_slo(sloth)
    print(f"series per availability SLO: ours {o_model:g} per model + {o_slo:g}, "
          f"Sloth-shaped {s_model:g} per model + {s_slo:g}")
    o_read = samples_read_per_model(ours, args.raw_series, 15, 30) / len(spec.slos)
    one_read = samples_read_per_model(one_group, args.raw_series, 15, 30) / len(spec.slos)
    s_read = samples_read_per_model(sloth, args.raw_series, 15, 30) / len(spec.slos)
    print(f"samples read per model per 30s evaluation (30d history, 15s scrape, {args.raw_series} raw series): "
          f"ours {o_read:,.0f} (ratio {o_read / s_read:.2f}), ours as one group {one_read:,.0f} "
          f"(ratio {one_read / s_read:.2f}), Sloth-shaped {s_read:,.0f}")
    assert decimal_text(threshold(Decimal("14.4"), Decimal("0.001"))) == "0.0144"

    ratios: dict[str, list[float]] = {"ours": [], "ours-one-group": []}
    for run in range(args.live_slos and args.repeat):
        measured = live(args.live_slos, args.live_seconds, args.history_hours, args.live_evaluation)
        s = measured["sloth"]
        line = []
        for family in ratios:
            o = measured[family]
            ratios[family].append(o["eval_per_second"] / s["eval_per_second"])
            line.append(f"{family} {o['eval_per_second'] * 1e6 / args.live_slos:.1f} us/s per SLO "
                        f"({o['eval_per_round'] * 1e3 / args.live_slos:.3f} ms per round of every group, "
                        f"{o['series'] / args.live_slos:g} series/SLO, ratio {ratios[family][-1]:.2f})")
        print(f"live run {run + 1}/{args.repeat}, {args.live_slos} availability SLOs, {args.history_hours:g}h of "
              f"history: Sloth-shaped {s['eval_per_second'] * 1e6 / args.live_slos:.1f} us/s per SLO "
              f"({s['eval_per_round'] * 1e3 / args.live_slos:.3f} ms per round, {s['series'] / args.live_slos:g} "
              f"series/SLO); " + "; ".join(line))
    if ratios["ours"]:
        print(f"rule evaluation time per second of Prometheus, against Sloth-shaped (median of {args.repeat} runs): "
              f"ours {statistics.median(ratios['ours']):.2f}x, "
              f"ours as one group per SLO {statistics.median(ratios['ours-one-group']):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
