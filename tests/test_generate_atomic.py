"""`generate -o OUT` changes OUT all at once or not at all.

A path it must write that is a folder, a folder that is a file, a folder it cannot write, or a
failure half way through the renames: exit 2 with one line, and OUT exactly as it was (every
file's bytes and every folder), nothing left beside it. A successful rerun renames each new file
over the old one, keeps the user's own files and removes stale Kubernetes objects of ours.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from triton_slo.cli import main
from triton_slo.output import files

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "resnet-classifier.yaml"


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder``: a file's bytes, None for a folder."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))}


def generate(capsys: pytest.CaptureFixture, spec: Path, out: Path, *extra: str) -> tuple[int, str]:
    code = main(["generate", str(spec), "-o", str(out), *extra])
    return code, capsys.readouterr().err


@pytest.fixture
def specs(tmp_path: Path) -> tuple[Path, Path]:
    """The example spec, and the same with another objective (every rule file differs)."""
    folder = tmp_path / "specs"
    folder.mkdir()
    first = folder / "resnet-classifier.yaml"
    shutil.copyfile(EXAMPLE, first)
    text = first.read_text()
    second = folder / "second" / "resnet-classifier.yaml"
    second.parent.mkdir()
    changed = text.replace("objective: 99.9", "objective: 99.5", 1)
    assert changed != text
    second.write_text(changed)
    return first, second


@pytest.fixture
def out(tmp_path: Path, specs: tuple[Path, Path], capsys: pytest.CaptureFixture) -> Path:
    """OUT after a first run, with a file of the user's in it."""
    folder = tmp_path / "work" / "out"
    assert generate(capsys, specs[0], folder)[0] == 0
    (folder / "NOTES.md").write_text("my own notes\n")
    return folder


def _rule_file(out: Path) -> Path:
    return sorted((out / "rules").glob("*-slo.yaml"))[0]


def assert_unchanged(out: Path, before: dict[str, bytes | None], err: str, fragment: str) -> None:
    assert "internal error" not in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert tree(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no staging folder left beside OUT


def test_a_folder_where_a_file_goes_changes_nothing(out, specs, capsys):
    target = _rule_file(out)
    target.unlink()
    target.mkdir()
    before = tree(out)
    code, err = generate(capsys, specs[1], out)
    assert code == 2
    assert_unchanged(out, before, err, "is a folder where a file must go")


def test_a_file_where_a_folder_goes_changes_nothing(out, specs, capsys):
    shutil.rmtree(out / "rules")
    (out / "rules").write_text("a file, not the rules folder\n")
    before = tree(out)
    code, err = generate(capsys, specs[1], out)
    assert code == 2
    assert_unchanged(out, before, err, "is not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_changes_nothing(out, specs, capsys):
    (out / "rules").chmod(0o555)
    try:
        before = tree(out)
        code, err = generate(capsys, specs[1], out)
        assert code == 2
        assert_unchanged(out, before, err, "Permission denied")
    finally:
        (out / "rules").chmod(0o755)


def test_a_failure_half_way_puts_every_replaced_file_back(out, specs, capsys, monkeypatch):
    before = tree(out)
    real = os.replace
    calls = []

    def replace(source, target):  # the third file put in place fails
        calls.append(target)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(target))
        return real(source, target)

    monkeypatch.setattr(files.os, "replace", replace)
    code, err = generate(capsys, specs[1], out)
    monkeypatch.undo()
    assert code == 2
    assert len(calls) > 3  # two files were replaced, then put back
    assert_unchanged(out, before, err, "No space left on device")


def test_a_rerun_renames_new_files_over_the_old_and_keeps_the_users(out, specs, capsys):
    rule_file = _rule_file(out)
    old_inode, old_text = rule_file.stat().st_ino, rule_file.read_text()
    mode = rule_file.stat().st_mode & 0o777
    kept_open = rule_file.open()  # a reader of the old file keeps reading the old file whole
    try:
        code, err = generate(capsys, specs[1], out)
        assert code == 0, err
        assert kept_open.read() == old_text
    finally:
        kept_open.close()
    assert rule_file.stat().st_ino != old_inode and rule_file.read_text() != old_text
    assert rule_file.stat().st_mode & 0o777 == mode
    assert (out / "NOTES.md").read_text() == "my own notes\n"
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]
    assert not [p for p in out.rglob(".*")], "temporary files left in OUT"


def test_a_new_out_appears_whole_with_the_usual_modes(tmp_path, specs, capsys):
    out = tmp_path / "fresh" / "out"
    code, err = generate(capsys, specs[0], out)
    assert code == 0, err
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask
    assert _rule_file(out).stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def test_stale_kubernetes_objects_of_ours_go_and_the_users_stay(tmp_path, specs, capsys):
    out = tmp_path / "k8s"
    other = tmp_path / "specs" / "other.yaml"
    other.write_text(specs[0].read_text().replace("name: resnet-classifier", "name: other-service", 1))
    assert main(["generate", str(specs[0]), str(other), "-o", str(out), "--target", "kubernetes"]) == 0
    capsys.readouterr()
    ours = sorted(p.name for p in (out / "kubernetes").glob("*other-service*"))
    assert ours
    (out / "kubernetes" / "mine.yaml").write_text("kind: ConfigMap\n")
    code, err = generate(capsys, specs[0], out, "--target", "kubernetes")
    assert code == 0, err
    assert not list((out / "kubernetes").glob("*other-service*"))
    assert (out / "kubernetes" / "mine.yaml").read_text() == "kind: ConfigMap\n"
