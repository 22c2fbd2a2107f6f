"""Benchmark of `triton-slo generate` on a large spec: the whole CLI path, and each generator.

    .venv/bin/python benchmarks/bench_generate.py [--slos 1000] [--models 40] [--repeat 3] [--no-reference]

Writes a spec with ``--slos`` SLOs (a realistic mix: availability, latency from Triton's summary
and from the probe histogram, golden accuracy, custom ratio and timeslice SLIs, 30d/28d/7d
windows, a few per-SLO alerting overrides) over ``--models`` models to a temp file, with a
canary section, receivers and mute intervals, then:

1. runs ``triton-slo generate SPEC -o OUT`` in-process (``slo.cli.main``: spec loading included),
   best of ``--repeat``, and prints the total and, from the same run, each generator's time and
   what it wrote (their ``generate`` functions wrapped in a timer); from 200 SLOs on, the rule
   tests run in two forked processes beside the other generators, so their time is printed from
   a run of their own; then the same with ``--target kubernetes``;
2. reference, in the same process: the whole command with nothing forked;
3. reference, in the same process: the same spec with a tenth of the SLOs, its time scaled by 10
   (generation should stay linear in the SLO count), and the time PyYAML's pure-Python dumper
   takes merely to write the generated rule files again (the naive way of writing them).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness

from harness.fleet import spec_text  # noqa: E402
from triton_slo import background, pipeline  # noqa: E402
from triton_slo.artifacts import Options  # noqa: E402
from triton_slo.cli import main as cli_main  # noqa: E402
from triton_slo.readers import load_spec  # noqa: E402
from triton_slo.rules import spec_rules  # noqa: E402


def cli_generate(spec_path: Path, out: Path, *extra: str) -> float:
    """Seconds `triton-slo generate SPEC -o OUT` takes in-process (its report swallowed)."""
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli_main(["generate", str(spec_path), "-o", str(out), *extra])
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"triton-slo generate exited {code}")
    return elapsed


BACKGROUND_NOTE = "2 forked processes beside the other generators"


def timed_call(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


@contextlib.contextmanager
def one_process():
    """Generation without forked processes (the reference the parallel run is compared with)."""
    saved = background.BACKGROUND_MIN_SLOS
    background.BACKGROUND_MIN_SLOS = 10**12
    try:
        yield
    finally:
        background.BACKGROUND_MIN_SLOS = saved


def best(runs: int, fn) -> float:
    return min(fn() for _ in range(runs))


# The pipeline's builders (the names it calls), in its order.
BUILDERS = (("SLO rules", "build_rule_files"), ("SLO rule tests", "build_rule_tests"),
            ("canary rules", "build_canary_rules"), ("operational alerts and Alertmanager", "build_ops"),
            ("dashboards", "build_dashboards"), ("runbooks", "build_runbooks"))


@contextlib.contextmanager
def timed_generators(rows: list[tuple[str, float, int, int]]):
    """Wraps each builder the pipeline calls so that one run of the CLI also gives the time of each
    (what it made: artifacts, and the size of their documents as JSON)."""
    originals = {name: getattr(pipeline, name) for _, name in BUILDERS}
    for what, name in BUILDERS:
        def timed(*args, original=originals[name], what=what):
            started = time.perf_counter()
            result = original(*args)
            rows.append((what, time.perf_counter() - started, len(result.artifacts), 0))
            return result

        setattr(pipeline, name, timed)
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(pipeline, name, original)


def pure_python_dump_seconds(out: Path) -> float:
    """Seconds PyYAML's pure-Python SafeDumper takes to write the generated rule files again."""
    documents = [yaml.load(p.read_text(), Loader=yaml.CSafeLoader) for p in sorted((out / "rules").glob("*.yaml"))]
    started = time.perf_counter()
    for document in documents:
        yaml.dump(document, Dumper=yaml.SafeDumper, sort_keys=False, width=120)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole command; the best counts")
    parser.add_argument("--no-reference", action="store_true", help="skip the pure-Python YAML reference")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        root = Path(tmp)
        spec_path = root / "fleet.yaml"
        spec_path.write_text(spec_text(args.slos, args.models))
        small_path = root / "fleet-small.yaml"
        small_path.write_text(spec_text(max(1, args.slos // 10), args.models))

        runs = []
        for _ in range(args.repeat):
            rows: list[tuple[str, float, int, int]] = []
            with timed_generators(rows):
                runs.append((cli_generate(spec_path, root / "out"), rows))
        total, rows = min(runs, key=lambda run: run[0])
        files = [p for p in (root / "out").rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        print(f"triton-slo generate, {args.slos} SLOs over {args.models} models: {total:.2f} s "
              f"(best of {args.repeat}; {len(files)} files, {size / 1e6:.1f} MB)")
        forked = background.fork_pays(len(load_spec(spec_path).slos))
        for what, seconds, count, _ in rows:
            print(f"  {what:38s} {seconds:6.2f} s  {count:4d} artifacts")
        rest = "spec loading, CLI, waiting for the tests" if forked else "spec loading, CLI and the rest"
        print(f"  {rest:38s} {total - sum(r[1] for r in rows):6.2f} s")
        if forked:
            made = [spec_rules(load_spec(spec_path), 30)]
            alone = best(1, lambda: timed_call(pipeline.build_rule_tests, made, Options()))
            print(f"  SLO rule tests ({BACKGROUND_NOTE}):  {alone:6.2f} s when run alone")
        k8s = best(1, lambda: cli_generate(spec_path, root / "k8s", "--target", "kubernetes"))
        print(f"  (--target kubernetes, whole command:   {k8s:6.2f} s)")
        if forked:
            with one_process():
                sequential = best(1, lambda: cli_generate(spec_path, root / "seq"))
            print(f"reference: the same command in one process (no forked rule tests): {sequential:.2f} s "
                  f"(ratio measured/one process {total / sequential:.2f})")

        small = best(args.repeat, lambda: cli_generate(small_path, root / "small"))
        scaled = small * args.slos / max(1, args.slos // 10)
        print(f"reference: {max(1, args.slos // 10)} SLOs {small:.2f} s, scaled to {args.slos}: {scaled:.2f} s "
              f"(ratio measured/scaled {total / scaled:.2f}: 1 is linear)")
        if not args.no_reference:
            naive = pure_python_dump_seconds(root / "out")
            print(f"reference: PyYAML's pure-Python dumper alone writing the rule files again: {naive:.2f} s "
                  f"(whole generate / that: {total / naive:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
