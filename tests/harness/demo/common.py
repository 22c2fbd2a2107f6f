"""What both ways of running the demo share: options, the record, and the CLI steps they narrate.

Every observation comes from a real component: the CLI commands (`generate`, `status`, `canary`,
`runbook`, `snapshot`) through ``slo.cli.main``, figures from Prometheus's query API, pages and
resolutions from what Alertmanager posted to the webhook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.demo.commands import CliRun, triton_slo
from harness.demo.narrate import Narrator

REPO = Path(__file__).resolve().parents[3]  # tests/harness/demo/common.py
EXAMPLES = REPO / "examples"
EXAMPLE_SPEC = EXAMPLES / "resnet-classifier.yaml"


@dataclass(frozen=True)
class Phases:
    steady_s: float  # steady load before the canary
    canary_s: float  # the healthy canary before the fault
    fault_s: float  # how long the fault stays on (the page comes within seconds)
    rate: float = 30.0  # requests/s of the service's main traffic (baseline + canary)
    side_rate: float = 3.0  # requests/s to resnet_concat, the service's third model
    batch: int = 4  # images per request
    page_timeout_s: float = 120.0
    resolve_timeout_s: float = 240.0  # a page that fired on a slice SLI clears after its slice and window


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


def _split_note(metrics: list[dict], weight: float | None, cause: str) -> str:
    """A sentence when the judge found the traffic split off the configured weight (it blocks a PASS)."""
    traffic = [m for m in metrics if m.get("kind") == "error_ratio" and m.get("checks")]
    p = min((m["sample_ratio_p"] for m in traffic if m.get("sample_ratio_p") is not None), default=None)
    if weight is None or p is None or p >= 0.001:
        return ""
    check = traffic[0]["checks"][0]
    total = check["n_baseline"] + check["n_canary"]
    share = check["n_canary"] / total if total else 0
    return (f"; the canary got {share:.0%} of the requests, not the configured {weight:g}% (sample-ratio "
            f"p={p:.1g}{': ' + cause if cause else ''}), so no PASS until that is explained")


def verdict_story(result: Any, weight: float | None = None, split_cause: str = "") -> str:
    """One plain sentence on what the verdict means (``split_cause``: why the traffic split may be off)."""
    if not isinstance(result, dict):
        return "no verdict"
    metrics = result.get("metrics", [])
    split = _split_note(metrics, weight, split_cause)
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


def cli_step(n: Narrator, argv: list[str], lines: int = 0) -> CliRun:
    """``triton-slo ARGV`` shown as a command with its output (its first ``lines`` lines when given)."""
    run = triton_slo(argv)
    n.command(argv)
    text = run.out
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


def verdict_of(entry: dict[str, Any] | None) -> str | None:
    """The verdict a recorded canary run gave (None when it gave none)."""
    return ((entry or {}).get("verdict") or {}).get("verdict")


def metric_of(entry: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """One metric of a recorded canary run."""
    return next((m for m in ((entry or {}).get("verdict") or {}).get("metrics", []) if m["name"] == name), None)
