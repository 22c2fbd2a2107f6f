"""Rendering a canary decision: the reasons as text, a table, JSON, and an HTML report with plots."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from triton_slo.canary.judge import VERDICT_CODES, Check, Counts, Decision, MetricInput, more_needed
from triton_slo.errors import UserError


def _num(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.4g}"


def _change(check: Check, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{math.expm1(value):+.1%}" if check.relative else f"{value:+.4g}"


def margin_text(check: Check) -> str:
    if check.deterministic:
        return "0 (zero tolerance)" if check.name == "non-finite outputs" else "budget"
    return _change(check, check.bound)


def _interval(check: Check, run: int) -> str:
    low, high = check.low[run], check.high[run]
    if not (math.isfinite(low) or math.isfinite(high)) or check.deterministic:
        return ""
    return f"[{_change(check, low)}, {_change(check, high)}]"


def check_reason(check: Check, decision: Decision, j: int, run: int = 0) -> str:
    """One sentence: why this check got its verdict, with the numbers behind it."""
    verdict = VERDICT_CODES[decision.check_verdicts[run, j]]
    n = f"n={int(check.n_baseline[run])}/{int(check.n_canary[run])}"
    if check.blocked:
        more = more_needed(check, decision, run)
        tail = f"; about {more} more requests per arm needed" if more else ""
        return f"{check.blocked}{tail} ({n})"
    if check.deterministic:
        if check.name == "non-finite outputs":
            bad = int(check.info["canary_bad"][run])
            return (f"{bad} NaN/Inf outputs from the canary out of {int(check.n_canary[run])} (zero tolerance)"
                    if bad else f"no NaN/Inf outputs from the canary in {int(check.n_canary[run])}")
        return (f"canary peak {_num(check.canary[run])} vs budget {_num(check.canary[run] - check.effect[run])} "
                f"(baseline peak {_num(check.baseline[run])})")
    change = f"change {_change(check, check.effect[run])} {_interval(check, run)}, margin {margin_text(check)}"
    if verdict == "FAIL":
        p = decision.p_worse[run, j]
        why = f"worse than the margin: {change}; p={p:.2g} (Holm, family alpha {decision.alpha:g})"
    elif verdict == "PASS":
        why = f"within the margin: {change}; p={decision.p_within[run, j]:.2g}"
    else:
        more = more_needed(check, decision, run)
        tail = f"; about {more} more requests per arm needed" if more else ""
        why = f"not decided: the interval reaches the margin: {change}{tail}"
    extra = ""
    if "flips" in check.info:
        extra = (f"; {int(check.info['flips'][run])} prediction flips ({int(check.info['fixed'][run])} fixed, "
                 f"{int(check.info['broken'][run])} broken)")
    return f"{why}{extra} ({check.test}, {n})"


def to_json(decision: Decision, inputs: list[MetricInput], run: int = 0, **extra) -> dict:
    metrics = []
    for item in inputs:
        cfg = item.config
        entries = []
        for j, check in enumerate(decision.checks):
            if check.metric != cfg.name:
                continue
            entries.append({
                "check": check.name,
                "verdict": VERDICT_CODES[decision.check_verdicts[run, j]],
                "test": check.test,
                "scale": "relative" if check.relative else "absolute",
                "baseline": _float(check.baseline[run]),
                "canary": _float(check.canary[run]),
                "difference": _float(math.expm1(check.effect[run]) if check.relative else check.effect[run]),
                "interval": None if check.deterministic else [
                    _float(math.expm1(v) if check.relative else v) for v in (check.low[run], check.high[run])],
                "margin": _float(math.expm1(check.bound) if check.relative else check.bound),
                "n_baseline": int(check.n_baseline[run]),
                "n_canary": int(check.n_canary[run]),
                "p_worse": _float(decision.p_worse[run, j]),
                "p_within": _float(decision.p_within[run, j]),
                "more_requests_needed": more_needed(check, decision, run),
                "reason": check_reason(check, decision, j, run),
            })
        entry = {
            "name": cfg.name,
            "verdict": str(decision.metric_verdicts[cfg.name][run]),
            "kind": cfg.kind,
            "critical": cfg.critical,
            "direction": cfg.direction,
            "margin": cfg.margin.text,
            "checks": entries,
            "promql": list(item.promql),
            "notes": list(item.notes),
        }
        if cfg.name in decision.srm:
            entry["sample_ratio_p"] = _float(decision.srm[cfg.name][run])
        metrics.append(entry)
    return {"verdict": str(decision.verdict[run]), "alpha": decision.alpha, **extra, "metrics": metrics}


def _float(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def render_table(decision: Decision, inputs: list[MetricInput], run: int = 0) -> str:
    header = ("METRIC", "CHECK", "VERDICT", "BASELINE", "CANARY", "CHANGE", "INTERVAL", "MARGIN", "N B/C",
              "P WORSE", "P WITHIN")
    rows = []
    for j, check in enumerate(decision.checks):
        verdict = VERDICT_CODES[decision.check_verdicts[run, j]]
        p_values = ("-", "-") if check.blocked else (
            f"{decision.p_worse[run, j]:.2g}", f"{decision.p_within[run, j]:.2g}")
        rows.append((check.metric, check.name, verdict, _num(check.baseline[run]), _num(check.canary[run]),
                     "-" if check.deterministic else _change(check, check.effect[run]), _interval(check, run),
                     margin_text(check), f"{int(check.n_baseline[run])}/{int(check.n_canary[run])}", *p_values))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    lines.append("")
    for item in inputs:
        name = item.config.name
        crit = " (critical)" if item.config.critical else ""
        lines.append(f"{name}{crit}: {decision.metric_verdicts[name][run]}")
        for j, check in enumerate(decision.checks):
            if check.metric == name:
                lines.append(f"  {check.name}: {check_reason(check, decision, j, run)}")
        if name in decision.srm:
            lines.append(f"  traffic split: sample-ratio p={decision.srm[name][run]:.2g}"
                         + (" (MISMATCH: the split is not the configured weight)"
                            if decision.srm[name][run] < 0.001 else ""))
        for note in item.notes:
            lines.append(f"  note: {note}")
        for query in item.promql:
            lines.append(f"  promql: {query}")
    lines.append("")
    lines.append(f"verdict: {decision.verdict[run]} (family-wise alpha {decision.alpha:g})")
    return "\n".join(lines)


def _plot(item: MetricInput) -> str:
    """A PNG (base64) of both arms: histograms of samples, or bad ratios with 95% Wilson intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.8))
    data = item.data
    if isinstance(data, Counts):
        labels, ratios, errs = [], [], []
        for arm, counts in (("baseline", data.baseline), ("canary", data.canary)):
            if counts is None or counts[1][0] == 0:
                continue
            bad, total = float(counts[0][0]), float(counts[1][0])
            z = 1.96
            p = bad / total
            centre = (p + z * z / (2 * total)) / (1 + z * z / total)
            half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
            labels.append(f"{arm}\n{int(bad)}/{int(total)}")
            ratios.append(p)
            errs.append([[max(p - (centre - half), 0)], [max(centre + half - p, 0)]])
        for i, (p, e) in enumerate(zip(ratios, errs, strict=True)):
            ax.bar(i, p, color=["#4c72b0", "#dd8452"][i], yerr=e, capsize=6)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylabel("bad / total")
    else:
        arms = [(a, x[0]) for a, x in (("baseline", data.baseline), ("canary", data.canary)) if x is not None]
        values = np.concatenate([x for _, x in arms]) if arms else np.array([])
        bins = np.histogram_bin_edges(values, bins=40) if values.size else 10
        for (arm, x), colour in zip(arms, ("#4c72b0", "#dd8452"), strict=False):
            ax.hist(x, bins=bins, alpha=0.55, label=f"{arm} (n={x.size})", color=colour)
        ax.set_xlabel(item.config.name)
        ax.legend()
    ax.set_title(item.config.name)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def write_html(path: str, decision: Decision, inputs: list[MetricInput], run: int = 0) -> None:
    verdict = str(decision.verdict[run])
    colour = {"PASS": "#2e7d32", "FAIL": "#c62828", "MARGINAL": "#ef6c00", "INCONCLUSIVE": "#616161"}[verdict]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Canary verdict</title>",
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}"
        "th{background:#eee}.r{font-size:90%;color:#333}</style></head><body>",
        f"<h1>Canary verdict: <span style='color:{colour}'>{verdict}</span></h1>",
        f"<p>Family-wise alpha {decision.alpha:g}. Metrics: {len(inputs)}.</p>",
    ]
    for item in inputs:
        name = item.config.name
        parts.append(f"<h2>{html.escape(name)}: {decision.metric_verdicts[name][run]}"
                     f"{' (critical)' if item.config.critical else ''}</h2>")
        parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{_plot(item)}'>")
        parts.append("<table><tr><th>check</th><th>verdict</th><th>reason</th></tr>")
        for j, check in enumerate(decision.checks):
            if check.metric == name:
                parts.append(f"<tr><td>{html.escape(check.name)}</td>"
                             f"<td>{VERDICT_CODES[decision.check_verdicts[run, j]]}</td>"
                             f"<td class='r'>{html.escape(check_reason(check, decision, j, run))}</td></tr>")
        parts.append("</table>")
        for query in item.promql:
            parts.append(f"<pre>{html.escape(query)}</pre>")
    parts.append("</body></html>")
    try:
        Path(path).write_text("\n".join(parts))
    except OSError as exc:
        raise UserError(f"--report {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Output:
    """How the command prints a verdict: ``table`` or ``json``, and the HTML report's path if any."""

    format: str = "table"
    report: str | None = None


def emit(output: Output, decision: Decision, inputs: list[MetricInput], **extra: object) -> None:
    """The verdict as the command prints it (table or JSON), and the HTML report when asked for."""
    if output.report:
        write_html(output.report, decision, inputs)
    if output.format == "json":
        print(json.dumps(to_json(decision, inputs, **extra), indent=2))
    else:
        print(render_table(decision, inputs))
    sys.stdout.flush()
