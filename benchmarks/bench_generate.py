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
import importlib
import io
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness

from harness.fleet import spec_text  # noqa: E402
from triton_slo import generate as generate_module  # noqa: E402
from triton_slo import rule_tests  # noqa: E402
from triton_slo.cli import main as cli_main  # noqa: E402
from triton_slo.generate import GENERATORS, Options  # noqa: E402
from triton_slo.spec import load_spec  # noqa: E402


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
    saved = generate_module.BACKGROUND_MIN_SLOS
    generate_module.BACKGROUND_MIN_SLOS = 10**12
    try:
        yield
    finally:
        generate_module.BACKGROUND_MIN_SLOS = saved


def best(runs: int, fn) -> float:
    return min(fn() for _ in range(runs))


@contextlib.contextmanager
def timed_generators(rows: list[tuple[str, float, int, int]]):
    """Wraps each generator's ``generate`` so that one run of the CLI also gives the time of each."""
    originals = {}
    for what, module_name in GENERATORS:
        module = importlib.import_module(module_name)
        originals[module] = original = module.generate

        def timed(specs, out, options, original=original, what=what):
            started = time.perf_counter()
            result = original(specs, out, options)
            rows.append((what, time.perf_counter() - started, len(result.files),
                         sum(f.stat().st_size for f in result.files)))
            return result

        module.generate = timed
    try:
        yield
    finally:
        for module, original in originals.items():
            module.generate = original


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
        background = generate_module.fork_pays([load_spec(spec_path)])
        for what, seconds, count, written in rows:
            print(f"  {what:38s} {seconds:6.2f} s  {count:4d} files {written / 1e6:6.2f} MB")
        rest = "spec loading, CLI, waiting for the tests" if background else "spec loading, CLI and the rest"
        print(f"  {rest:38s} {total - sum(r[1] for r in rows):6.2f} s")
        if background:
            alone = best(1, lambda: timed_call(rule_tests.generate, [load_spec(spec_path)], root / "rt", Options()))
            print(f"  SLO rule tests ({BACKGROUND_NOTE}):  {alone:6.2f} s when run alone")
        k8s = best(1, lambda: cli_generate(spec_path, root / "k8s", "--target", "kubernetes"))
        print(f"  (--target kubernetes, whole command:   {k8s:6.2f} s)")
        if background:
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
