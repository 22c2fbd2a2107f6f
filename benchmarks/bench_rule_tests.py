"""Benchmark of the generated promtool tests (`triton_slo.ruletests`): build time and size, promtool time.

    .venv/bin/python benchmarks/bench_rule_tests.py [--slos 1000] [--promtool]

1. ``ruletests.build`` on two 1000-SLO specs, planned once beforehand as the pipeline does:
   ``bench_rules.big_spec`` (one model per SLO, every SLI kind) and ``harness.fleet.spec_text``
   (1000 SLOs over 40 models: SLOs share their models' series); build time (from 200 SLOs on the
   tests are built in two forked processes), then the time the output layer takes to render and
   write them, MB written, and the ratio to the rule files' builder (``build_rule_files``) on the
   same plans in the same process (the reference); the cycle collector off, as in the pipeline.
2. ``--promtool``: seconds `promtool test rules` takes on the example spec's generated tests,
   next to `promtool check rules` of the same rule file (the reference).
"""

from __future__ import annotations

import argparse
import gc
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the harness
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_rules import big_spec  # noqa: E402
from triton_slo import rules, ruletests  # noqa: E402
from triton_slo.artifacts import Options  # noqa: E402
from triton_slo.output import files  # noqa: E402
from triton_slo.readers import load_spec  # noqa: E402
from triton_slo.rulefiles import build_rule_files  # noqa: E402


def timed(builder, made, out: Path) -> tuple[float, float, float]:
    """Seconds one builder takes on the planned specs, seconds to render and write what it made, and MB."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        built = builder(made)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        written = files.write(built.artifacts, out)
        write_s = time.perf_counter() - started
    finally:
        if enabled:
            gc.enable()
    return build_s, write_s, sum(f.stat().st_size for f in written) / 1e6


def _tests(made):
    return ruletests.build(made, Options())


def specs(count: int, tmp: Path) -> list[tuple[str, object]]:
    out = [(f"{count} SLOs, one model each (bench_rules.big_spec)", big_spec(count))]
    try:
        from harness.fleet import spec_text
    except ImportError:
        return out
    path = tmp / "fleet.yaml"
    path.write_text(spec_text(count, 40))
    out.append((f"{count} SLOs over 40 models (harness.fleet.spec_text)", load_spec(str(path))))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--promtool", action="store_true", help="also time promtool on the example spec")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rule-tests-") as tmp:
        root = Path(tmp)
        for what, spec in specs(args.slos, root):
            started = time.perf_counter()
            made = [rules.spec_rules(spec, 30)]
            planned = time.perf_counter() - started
            reference, rules_write, rules_mb = timed(build_rule_files, made, root / "out")
            seconds, tests_write, tests_mb = timed(_tests, made, root / "out")
            print(f"{what} (planned in {planned:.2f} s): rule tests built in {seconds:.2f} s, written in "
                  f"{tests_write:.2f} s, {tests_mb:.1f} MB; rule files {reference:.2f} s + {rules_write:.2f} s, "
                  f"{rules_mb:.1f} MB (tests/rules time {(seconds + tests_write) / (reference + rules_write):.1f}x)")
        if args.promtool and shutil.which("promtool"):
            spec = load_spec(str(ROOT / "examples" / "resnet-classifier.yaml"))
            made = [rules.spec_rules(spec, 30)]
            written = files.write(build_rule_files(made).artifacts + _tests(made).artifacts, root / "example")
            test_file = written[-1]
            started = time.perf_counter()
            check = subprocess.run(["promtool", "check", "rules", str(written[0])],
                                   capture_output=True, check=True)
            check_s = time.perf_counter() - started
            started = time.perf_counter()
            test = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True)
            test_s = time.perf_counter() - started
            print(f"example spec ({len(spec.slos)} SLOs): promtool test rules {test_s:.1f} s "
                  f"({'pass' if test.returncode == 0 else 'FAIL'}), {test_file.stat().st_size / 1e3:.0f} kB; "
                  f"promtool check rules {check_s:.2f} s (test/check {test_s / check_s:.0f}x)")
            del check
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
