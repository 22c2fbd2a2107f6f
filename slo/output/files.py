"""Writes the built artifacts under OUT: every file rendered and written aside first, then put in place.

A run changes OUT all at once or not at all:

1. every artifact is rendered and every target path checked (a folder where a file must go, a
   file where a folder must be) before anything is written;
2. every file is written into a temporary folder beside OUT (on OUT's file system; inside OUT
   when its parent is elsewhere or not writable);
3. a new OUT is that folder renamed; into an existing OUT each file is renamed over the old one
   (a reader never sees half a file), the old one kept aside until the end; the Kubernetes
   objects with our header that this run no longer writes are removed the same way;
4. if any step fails, the files already replaced are put back, and OUT is as it was.

Files in OUT that this run does not write stay (users keep their own files there).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from triton_slo import names
from triton_slo.artifacts import Artifact
from triton_slo.errors import UserError
from triton_slo.output.kubernetes import HEADER as KUBERNETES_HEADER
from triton_slo.output.writers import json_text, yaml_text


def render(artifact: Artifact) -> str:
    """An artifact's text, by the one writer of its format."""
    if artifact.format == "yaml":
        return artifact.header + yaml_text(artifact.document)
    if artifact.format == "json":
        return json_text(artifact.document) + "\n"
    return artifact.document


def _check_target(out: Path, relative: str) -> Path:
    path = out / relative
    for parent in [*reversed(path.relative_to(out).parents)][1:]:
        if (out / parent).exists() and not (out / parent).is_dir():
            raise UserError(f"-o {out}: {out / parent} is not a folder; nothing was written")
    if path.is_dir():
        raise UserError(f"-o {out}: {path} is a folder where a file must go; nothing was written")
    return path


def _stale_objects(out: Path, keep: set[Path]) -> list[Path]:
    """Kubernetes objects an earlier run wrote that this run does not (they would be applied again)."""
    folder = out / names.KUBERNETES_DIR
    if not folder.is_dir():
        return []
    stale = []
    for old in sorted(folder.glob("*.yaml")):
        if old not in keep and old.is_file() and old.read_text(errors="replace").startswith(KUBERNETES_HEADER):
            stale.append(old)
    return stale


def write(artifacts: list[Artifact], out: Path) -> list[Path]:
    """Write every artifact under ``out``; returns the paths written, in artifact order."""
    try:
        return _write(artifacts, out)
    except OSError as exc:
        raise UserError(f"-o {out}: {exc.filename or out}: {exc.strerror or exc}; nothing was written") from None
    except _Partial as exc:
        raise UserError(f"-o {out}: {exc}") from None


def _write(artifacts: list[Artifact], out: Path) -> list[Path]:
    if out.exists() and not out.is_dir():
        raise UserError(f"-o {out}: exists and is not a folder")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise UserError(f"-o {out}: {parent} is not a folder; nothing was written")
    texts = [(_check_target(out, a.path), render(a)) for a in artifacts]
    paths = [path for path, _ in texts]
    duplicates = sorted({str(p) for p in paths if paths.count(p) > 1})
    if duplicates:
        raise UserError(f"-o {out}: two outputs would both be written to {duplicates[0]}")
    stale = _stale_objects(out, set(paths))
    absolute = Path(os.path.abspath(out))
    absolute.parent.mkdir(parents=True, exist_ok=True)
    stage = _stage_folder(absolute)
    try:
        staged = []
        for path, text in texts:
            aside = stage / path.relative_to(out)
            aside.parent.mkdir(parents=True, exist_ok=True)
            with open(aside, "x", encoding="utf-8") as stream:  # 0666 & ~umask, as a new file gets
                stream.write(text)
            staged.append((path, aside))
        if not absolute.exists():
            os.chmod(stage, DIR_MODE)
            os.rename(stage, absolute)  # a new OUT appears whole
            stage = None
            return paths
        _move_into(out, stage, staged, stale)
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
    return paths


class _Partial(Exception):
    """A failure after which OUT could not be put back as it was."""


def _stage_folder(out: Path) -> Path:
    """A new private folder on OUT's file system: beside OUT, or inside it as a fallback."""
    prefix = f".{out.name or 'out'}.new."
    if not out.exists() or _same_device(out, out.parent):
        try:
            return Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
        except OSError as exc:
            if not out.is_dir():
                raise UserError(f"-o {out}: cannot write in {out.parent}: {exc.strerror or exc}; "
                                "nothing was written") from None
    try:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=out))
    except OSError as exc:
        raise UserError(f"-o {out}: cannot write in it: {exc.strerror or exc}; nothing was written") from None


def _same_device(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


def _move_into(out: Path, stage: Path, staged: list[tuple[Path, Path]], stale: list[Path]) -> None:
    """Put the staged files over their targets and remove ``stale``; on failure undo all of it."""
    keep = Path(tempfile.mkdtemp(prefix=".replaced.", dir=stage))
    done: list[tuple[Path, Path | None]] = []  # (target, the old file kept aside, or None: it was new)
    made: list[Path] = []  # folders created in OUT
    try:
        for target, aside in staged:
            missing = [f for f in [target.parent, *target.parent.parents] if not f.exists() and f != out.parent]
            for folder in reversed(missing):
                folder.mkdir()
                made.append(folder)
            kept = None
            if os.path.lexists(target):
                kept = keep / str(len(done))
                _keep(target, kept)
            _put(aside, target)
            done.append((target, kept))
        for old in stale:
            kept = keep / str(len(done))
            _keep(old, kept)
            old.unlink()
            done.append((old, kept))
    except OSError as exc:
        failed = []
        for target, kept in reversed(done):
            try:
                if kept is None:
                    target.unlink(missing_ok=True)
                else:
                    _put(kept, target)
            except OSError:
                failed.append(str(target))
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                pass
        if failed:
            raise _Partial(f"{exc.filename or out}: {exc.strerror or exc}; and {len(failed)} replaced files could "
                           f"not be put back (first {failed[-1]})") from None
        raise


def _keep(path: Path, kept: Path) -> None:
    """The old file, kept aside under ``kept`` (a second name for it, or a copy)."""
    try:
        os.link(path, kept, follow_symlinks=False)
    except OSError:
        shutil.copy2(path, kept, follow_symlinks=False)


def _put(source: Path, target: Path) -> None:
    """``source`` renamed over ``target`` in one step; across file systems (a folder of OUT that is
    a mount or a link elsewhere) by way of a temporary copy beside ``target``."""
    try:
        os.replace(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.chmod(temporary, FILE_MODE)
        with os.fdopen(handle, "wb") as stream, open(source, "rb") as original:
            shutil.copyfileobj(original, stream)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() gives a new file (mkstemp makes it 0600)
DIR_MODE = 0o777 & ~_umask()  # what mkdir() gives a new folder (mkdtemp makes it 0700)
