"""The wheel, installed with no extras into a fresh venv: small, one import package, no test code,
and `validate` and `generate` work (without numpy the rule tests are left out with a warning)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_SITE_PACKAGES = 60 * 1024 * 1024


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(REPO)], check=True, timeout=240, capture_output=True)
    (found,) = out.glob("triton_slo-*.whl")
    return found


def test_the_wheel_holds_one_import_package_and_no_test_code(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"triton_slo"}
    assert not [n for n in names if "/harness/" in n or "/stack/" in n or "/demo/" in n or "k8s_schemas" in n
                or n.endswith(("kayenta.py", "simulate.py"))]
    assert "triton_slo/runbooks/tritonslonotraffic.md" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


@pytest.mark.timeout(600)
def test_a_bare_install_is_small_and_validates_and_generates(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                           "--disable-pip-version-check", str(wheel)], capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-2000:]
    (site,) = (env_dir / "lib").glob("python*/site-packages")
    size = _size(site)
    assert size < MAX_SITE_PACKAGES, f"site-packages holds {size / 2**20:.1f} MB"
    for heavy in ("numpy", "scipy", "matplotlib", "tritonclient", "gevent"):
        assert not (site / heavy).exists(), f"{heavy} installed without an extra"
    cli = env_dir / "bin" / "triton-slo"
    examples = sorted(str(p) for p in (REPO / "examples").glob("*.yaml"))
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(cli), "validate", *examples], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=clean)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    done = subprocess.run([str(cli), "generate", *examples, "-o", str(out)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=clean)
    assert done.returncode == 0, done.stderr
    assert "rule-tests" in done.stderr  # the warning that names the extra
    assert sorted(p.name for p in (out / "rules").glob("*.yaml"))
    assert (out / "alertmanager.yaml").is_file() and list((out / "dashboards").glob("*.json"))
    assert not list((out / "tests").glob("*-slo.yaml"))
    shutil.rmtree(env_dir)
