"""`triton-slo canary`: is the canary worse than the baseline?

Two ways in, one judge:

- online:  ``triton-slo canary --prometheus URL --spec SPEC --baseline SEL --canary SEL [--window 30m] [--watch]``
- offline: ``triton-slo canary judge --data FILE.json [--config CANARY.yaml] [--format json]``

Exit codes: 0 PASS, 1 FAIL, 2 bad input, 3 MARGINAL, 4 INCONCLUSIVE.
"""

from __future__ import annotations

import argparse

from triton_slo.canary import online
from triton_slo.canary.judge import EXIT_CODES, judge
from triton_slo.canary.offline import JudgeSettings, load_config, load_data
from triton_slo.canary.report import Output, emit
from triton_slo.errors import UserError
from triton_slo.promapi import PromAPI, add_prometheus_arguments

HELP = "judge a canary against its baseline (online from Prometheus, or `canary judge --data FILE`)"

_ONLINE_ONLY = ("prometheus", "spec", "baseline", "canary", "end", "since", "watch")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = (
        "triton-slo canary --prometheus URL --spec SPEC [--baseline SEL] [--canary SEL] [--window 30m] [--watch]\n"
        "       triton-slo canary judge --data FILE.json [--config CANARY.yaml] [--format json]"
    )
    parser.add_argument("action", nargs="?", choices=["judge"], metavar="judge",
                        help="offline: judge the samples or counts in --data instead of querying Prometheus")
    common = parser.add_argument_group("output")
    common.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    common.add_argument("--report", metavar="FILE.html", help="also write an HTML report with plots of both arms")
    common.add_argument("--alpha", type=float, default=None,
                        help="family-wise error rate of false FAILs, and the level of each PASS (default 0.05)")
    offline = parser.add_argument_group("offline (`canary judge`)")
    offline.add_argument("--data", metavar="FILE.json", help='{"metrics": {NAME: ENTRY, ...}} (see README)')
    offline.add_argument("--config", metavar="CANARY.yaml",
                         help="per-metric direction, margin, critical (wins over the data file)")
    online = parser.add_argument_group("online")
    online.add_argument("--spec", metavar="SPEC", help="triton-slo spec whose `canary:` section configures the judge")
    online.add_argument("--baseline", metavar="SELECTOR",
                        help='label matchers of the baseline, e.g. model="resnet_baseline" (default from the spec)')
    online.add_argument("--canary", metavar="SELECTOR", help='label matchers of the canary, e.g. model="resnet_deep"')
    online.add_argument("--window", metavar="DURATION", help="judge the last DURATION (default the spec's, or 30m)")
    online.add_argument("--warmup", metavar="DURATION",
                        help="skip this long after the canary's first sample (default the spec's, or 5m)")
    online.add_argument("--end", metavar="UNIX_TIME", type=float, help="judge the window ending here (default now)")
    online.add_argument("--slices", type=int, default=10,
                        help="concurrent sub-windows for time-paired comparisons (default 10)")
    online.add_argument("--watch", action="store_true",
                        help="re-judge during the rollout with anytime-valid tests until PASS, FAIL or the window ends")
    online.add_argument("--every", metavar="DURATION", default="1m", help="--watch: time between looks (default 1m)")
    online.add_argument("--weight", type=float, default=None,
                        help="expected canary share of traffic in percent, for the sample-ratio check")
    add_prometheus_arguments(parser, required=False)


def run(args: argparse.Namespace) -> int:
    if args.alpha is not None and not 0 < args.alpha < 0.5:
        raise UserError(f"--alpha {args.alpha}: must be between 0 and 0.5")
    if args.weight is not None and not 0 <= args.weight < 100:
        raise UserError(f"--weight {args.weight}: expected the canary's share of traffic in percent, 0 to under 100")
    if args.action == "judge":
        return _run_offline(args)
    if args.data or args.config:
        raise UserError("--data and --config belong to the offline judge: `triton-slo canary judge --data FILE`")
    if not args.prometheus:
        raise UserError("--prometheus URL is required (or judge a file offline: `triton-slo canary judge --data FILE`)")
    return online.run(online.request_from(args), PromAPI.from_args(args), Output(args.format, args.report))


def _run_offline(args: argparse.Namespace) -> int:
    given = [f"--{name}" for name in _ONLINE_ONLY if getattr(args, name, None)]
    if given:
        raise UserError(f"{given[0]} is an online flag; `canary judge` reads --data only")
    if not args.data:
        raise UserError("canary judge: --data FILE.json is required")
    settings = load_config(args.config) if args.config else JudgeSettings()
    inputs, alpha, share = load_data(args.data, settings)
    if args.weight is not None:
        share = args.weight / 100
    decision = judge(inputs, args.alpha if args.alpha is not None else alpha, share)
    emit(Output(args.format, args.report), decision, inputs)
    return EXIT_CODES[str(decision.verdict[0])]
