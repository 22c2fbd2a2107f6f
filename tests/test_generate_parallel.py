"""`generate` with the rule tests in forked processes: the same files as in one process, and a
failure in a child reaches the caller as the same error."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from harness.generated import run_generate
from test_rule_tests import _checked_slos
from triton_slo import background
from triton_slo.artifacts import Options
from triton_slo.background import Background
from triton_slo.errors import UserError
from triton_slo.readers import load_spec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "resnet-classifier.yaml"
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forking is used on Linux only")


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_forked_rule_tests_write_what_one_process_writes(tmp_path, monkeypatch):
    spec = load_spec(EXAMPLE)
    one = run_generate([spec], tmp_path / "one", Options())
    monkeypatch.setattr(background, "BACKGROUND_MIN_SLOS", 1)
    assert background.fork_pays(len(spec.slos))
    two = run_generate([spec], tmp_path / "two", Options())
    here, there = str(tmp_path / "one"), str(tmp_path / "two")  # notes and provisioning name the folder
    assert sorted(n.replace(there, here) for n in two.notes) == sorted(one.notes)
    assert [w.replace(there, here) for w in two.warnings] == one.warnings
    first = _files(tmp_path / "one")
    second = {k: v.replace(there.encode(), here.encode()) for k, v in _files(tmp_path / "two").items()}
    assert first.keys() == second.keys()
    # the SLO tests differ (each half picks its own moments for the full alert checks): they must
    # check every SLO and pass promtool
    tests = "tests/resnet-classifier-slo.yaml"
    first.pop(tests)
    split = second.pop(tests).decode()
    assert first == second
    checked = set().union(*(_checked_slos(t) for t in yaml.safe_load(split)["tests"]))
    assert checked == {s.name for s in spec.slos}
    if shutil.which("promtool"):
        done = subprocess.run(["promtool", "test", "rules", str(tmp_path / "two" / tests)], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


def _fails(message: str) -> None:
    raise UserError(message)


def _dies() -> None:
    import os

    os._exit(3)


def test_a_childs_error_is_raised_in_the_parent():
    with pytest.raises(UserError, match="bad spec here"):
        Background(_fails, "bad spec here").result()
    with pytest.raises(RuntimeError, match="ended without a result"):
        Background(_dies).result()
