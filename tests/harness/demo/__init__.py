"""`make demo`: the whole product on a real stack, narrated, in a few minutes.

``python -m harness.demo [--quick] [--out build/demo]`` starts Triton (PyTriton, CPU) serving the residual
models, the exporter, Prometheus with the generated rules and Alertmanager with the generated routes,
generates everything for ``examples/``, drives load and plays a canary and an incident:

1. steady state: ``triton-slo status`` shows healthy budgets;
2. ``resnet_deep`` takes the canary's share of traffic; ``triton-slo canary`` gives its verdict with
   reasons; the deeper model's latency and compute cost are read from Prometheus;
3. a fault in the canary: the page reaches the webhook with its runbook URL; ``triton-slo runbook``;
4. rollback: the canary is removed, the burn stops, the page resolves.

It writes ``summary.json``, ``summary.txt`` and the on-call board ``oncall.png`` to the output folder
and stops everything it started, also on Ctrl-C or failure.

``python -m harness.demo --no-stack --prometheus URL [--triton URL] [--alertmanager URL] [--spec SPEC]``
runs what needs no servers of our own (generate, status, canary verdict, runbooks, snapshot) against
yours, and says what it skipped.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.demo.common import FULL, QUICK, DemoFailed, Options, Summary
from harness.demo.compress import DEFAULT_FACTOR
from harness.demo.narrate import Narrator

__all__ = ["main", "run"]

DCGM_RECORDING = "dcgm_T4_under-load_ericsson_no-help-type.prom"  # the one busy GPU among the recordings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m harness.demo", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="Without --no-stack it needs nothing but this machine (2 CPU cores are enough).")
    parser.add_argument("--out", type=Path, default=Path("build/demo"), help="output folder (default build/demo)")
    parser.add_argument("--quick", action="store_true", help="shorter phases (about 3 minutes instead of 4-5)")
    parser.add_argument("--fault", choices=("errors", "latency"), default="errors",
                        help="the fault switched on in the canary (default errors)")
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR,
                        help=f"time compression of the live demo's alerting windows (default {DEFAULT_FACTOR})")
    parser.add_argument("--dcgm-recording", type=Path, metavar="FILE",
                        help="dcgm-exporter /metrics recording to replay (default: a real one from ../shared/fixtures)")
    remote = parser.add_argument_group("your own servers")
    remote.add_argument("--no-stack", action="store_true", help="start nothing; use the URLs below")
    remote.add_argument("--prometheus", metavar="URL", help="your Prometheus (or compatible query API)")
    remote.add_argument("--triton", metavar="URL", help="your Triton's HTTP endpoint (checked, never changed)")
    remote.add_argument("--alertmanager", metavar="URL", help="your Alertmanager (its active alerts pick the runbooks)")
    remote.add_argument("--spec", type=Path, metavar="SPEC",
                        help="your spec (default examples/resnet-classifier.yaml)")
    return parser


def _shared_recording(name: str) -> Path:
    from harness.stack.compose import SHARED_FIXTURES

    return SHARED_FIXTURES / name


def options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Options:
    remote_flags = [f"--{n}" for n in ("prometheus", "triton", "alertmanager", "spec") if getattr(args, n)]
    if not args.no_stack and remote_flags:
        parser.error(f"{remote_flags[0]} needs --no-stack (the demo starts its own servers otherwise)")
    if args.no_stack and not args.prometheus:
        parser.error("--no-stack needs --prometheus URL")
    for flag in ("prometheus", "triton", "alertmanager"):
        url = getattr(args, flag)
        if url and not url.startswith(("http://", "https://")):
            parser.error(f"--{flag} {url!r}: expected an http:// or https:// URL")
    if args.spec is not None and not args.spec.is_file():
        parser.error(f"--spec {args.spec}: no such file")
    if not args.factor >= 1:
        parser.error(f"--factor {args.factor:g}: must be at least 1")
    recording, note = args.dcgm_recording, ""
    if recording is not None:
        if not recording.is_file():
            parser.error(f"--dcgm-recording {recording}: no such file")
        note = f"GPU telemetry: replay of {recording}"
    elif not args.no_stack:
        candidate = _shared_recording(DCGM_RECORDING)
        if candidate.is_file():
            recording = candidate
            note = (f"GPU telemetry: a replay of a real dcgm-exporter recording ({candidate}: a Tesla T4 under "
                    "load, static); the models here run on the CPU, so no model is tied to that GPU")
        else:
            note = (f"GPU telemetry: NONE. The real dcgm-exporter recordings are absent ({candidate} not found), "
                    "so there is no dcgm-exporter job: GPU series, the GPU SLO and the GPU panels have no data")
    return Options(out=args.out.resolve(), phases=QUICK if args.quick else FULL, factor=args.factor, fault=args.fault,
                   dcgm_recording=recording, dcgm_note=note, prometheus=args.prometheus or "",
                   triton=args.triton or "", alertmanager=args.alertmanager or "", spec=args.spec)


def _terminate(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops everything like Ctrl-C does


def run(opts: Options, inspect: Callable[[Any, Summary], None] | None = None, live: bool = True) -> int:
    """Play the demo; ``inspect(stack, summary)`` runs before the stack stops (tests read the components)."""
    opts.out.mkdir(parents=True, exist_ok=True)
    n = Narrator(steps=7 if live else 6)
    summary = Summary()
    summary.data.update({"mode": "stack" if live else "no-stack", "out": str(opts.out),
                         "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    if live:
        summary.data.update({"quick": opts.phases is QUICK, "fault": opts.fault, "time_compression": opts.factor,
                             "phases": vars(opts.phases)})
        n.say("triton-slo demo: a real Triton, exporter, Prometheus and Alertmanager on this machine; "
              "a canary, an incident and a rollback, narrated.")
    else:
        n.say(f"triton-slo demo on your servers: Prometheus {opts.prometheus}"
              + (f", Triton {opts.triton}" if opts.triton else "")
              + (f", Alertmanager {opts.alertmanager}" if opts.alertmanager else "") + ". Nothing is started.")
    code = 1
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if live:
            from harness.demo.live import run_live

            run_live(opts, n, summary, inspect)
        else:
            from harness.demo.remote import run_remote

            run_remote(opts, n, summary)
        code = 0 if summary.data["ok"] else 1
    except DemoFailed as exc:
        summary.data["error"] = str(exc)
        n.say(f"\ndemo failed: {exc}")
    except KeyboardInterrupt:
        summary.data["error"] = "interrupted"
        n.say("\ninterrupted: everything started has been stopped")
        code = 130
    except Exception as exc:  # noqa: BLE001 - a server that would not start: say which and why, no traceback
        summary.data["error"] = f"{type(exc).__name__}: {exc}"
        n.say(f"\ndemo failed: {type(exc).__name__}: {exc}\n(logs of the servers: {opts.out / 'work'})")
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary.data["wall_seconds"] = round(n.elapsed(), 1)
    write_summary(opts.out, summary, n, code)
    return code


def write_summary(out: Path, summary: Summary, n: Narrator, code: int) -> None:
    checks = summary.data.get("checks", {})
    result = [f"\ndone in {n.clock()} (exit {code})"]
    result += [f"  [{'x' if ok else ' '}] {what}" for what, ok in checks.items()]
    if summary.data["skipped"]:
        result.append("skipped without servers of our own:")
        result += [f"  - {what}" for what in summary.data["skipped"]]
    files = [out / "summary.json", out / "summary.txt"]
    if (summary.data.get("snapshot") or {}).get("png"):
        files.append(Path(summary.data["snapshot"]["png"]))
    started = "everything started was stopped" if summary.data["mode"] == "stack" else "nothing was started"
    result.append("wrote " + ", ".join(str(f) for f in files) + f"; {started}")
    n.say("\n".join(result))
    (out / "summary.json").write_text(json.dumps(summary.data, indent=2, default=str) + "\n")
    (out / "summary.txt").write_text("\n".join(n.lines) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run(options(args, parser), live=not args.no_stack)


if __name__ == "__main__":
    sys.exit(main())
