"""Spec readers: triton-slo's own format, Sloth ``prometheus/v1`` and OpenSLO v1, onto slo.model.

``load_spec(path)`` (or ``parse_spec(text, file)``) returns a ``triton_slo.model.Spec`` or raises
``SpecError`` listing every problem as ``FILE:LINE:COL: message``.

Modules:

- ``source``: YAML loading with positions, ``SpecError``/``SpecProblem``/``Mark``, and ``Reader``,
  which reads one mapping and records each problem at its key;
- ``fields``: the field converters the readers share (``as_str``, ``as_duration``, ``as_objective``,
  ``as_promql``, ``str_map``...);
- ``native`` (triton-slo/v1), ``sloth`` (Sloth prometheus/v1), ``openslo`` (OpenSLO v1): the readers.

Each reader module has the same interface:

- ``FORMAT``: its name, the ``Spec.source_format`` of what it reads;
- ``accepts(documents) -> bool``: whether the file's YAML documents (a non-empty list, as
  ``source.load_documents`` gives them) are in its format, judged by the first one's version fields;
- ``read(documents, file) -> Spec``: the spec, or ``SpecError`` listing every problem.

``READERS`` are asked in order and the first that accepts reads the file; ``native`` comes last
and accepts every file, so a missing or unknown version is reported against triton-slo's own.
The readers import only the core modules (model, durations) and ``source``/``fields``.
"""

from __future__ import annotations

from pathlib import Path

from triton_slo.model import Spec
from triton_slo.readers import native, openslo, sloth
from triton_slo.readers.source import Mark, SpecError, SpecProblem, load_documents

__all__ = ["MAX_SPEC_BYTES", "READERS", "SpecError", "SpecProblem", "load_spec", "parse_spec"]

MAX_SPEC_BYTES = 16 * 1024 * 1024
READERS = (openslo, sloth, native)


def load_spec(path: str | Path) -> Spec:
    """Read one spec file of any supported format."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError([SpecProblem(file, Mark(1, 1), f"cannot read: {exc.strerror or exc}")]) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError([SpecProblem(file, Mark(1, 1), f"larger than {MAX_SPEC_BYTES >> 20} MiB")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([SpecProblem(file, Mark(1, 1), f"not UTF-8 text (byte {exc.start})")]) from None
    return parse_spec(text, file)


def parse_spec(text: str, file: str = "<spec>") -> Spec:
    """A spec from its YAML text; ``file`` names it in the problems."""
    documents = load_documents(text, file)
    if not documents:
        raise SpecError([SpecProblem(file, Mark(1, 1), "empty file: expected a spec")])
    reader = next(r for r in READERS if r.accepts(documents))
    return reader.read(documents, file)
