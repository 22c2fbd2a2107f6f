"""Writes the built artifacts under OUT: every file rendered first, then put in place.

Nothing is written until every artifact has rendered and every target path is known to be
writable, so a bad spec or a bad output folder leaves OUT as it was. Each file is written to a
temporary name in its folder and renamed over the old one (a reader never sees half a file).
"""

from __future__ import annotations

import os
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
    if out.exists() and not out.is_dir():
        raise UserError(f"-o {out}: exists and is not a folder")
    texts = [(_check_target(out, a.path), render(a)) for a in artifacts]
    paths = [path for path, _ in texts]
    duplicates = sorted({str(p) for p in paths if paths.count(p) > 1})
    if duplicates:
        raise UserError(f"-o {out}: two outputs would both be written to {duplicates[0]}")
    try:
        for path, text in texts:
            path.parent.mkdir(parents=True, exist_ok=True)
            _replace(path, text)
        for old in _stale_objects(out, set(paths)):
            old.unlink()
    except OSError as exc:
        raise UserError(f"-o {out}: {exc.filename or out}: {exc.strerror or exc}") from None
    return paths


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() gives a new file (mkstemp makes it 0600)


def _replace(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(temporary, FILE_MODE)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
