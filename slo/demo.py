"""`make demo`: generate everything for examples/, then run the real stack under load."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from slo.cli import main as cli_main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--out", default="build/demo", help="where the demo writes (default build/demo)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    specs = sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
    print(f"[1/2] generating rules, tests, Alertmanager config, dashboards and runbooks into {out}/generated")
    code = cli_main(["generate", *specs, "-o", str(out / "generated")])
    if code:
        return code
    print(f"[2/2] starting the real stack and driving load for {args.duration:g} s")
    from slo.stack.__main__ import main as stack_main

    return stack_main(["--duration", str(args.duration)])


if __name__ == "__main__":
    sys.exit(main())
