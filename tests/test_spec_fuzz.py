"""Property-based fuzzing of the spec loader on mutated real specs (the examples).

The property: ``load_spec`` returns a Spec or raises SpecError whose every line is
``FILE:LINE:COL: message`` with a position inside the file; it never raises anything else, and
``triton-slo validate`` never prints a traceback or an internal error.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from triton_slo.cli import main
from triton_slo.model import Spec
from triton_slo.readers import SpecError, load_spec
from triton_slo.readers.source import MAX_EXPANDED_VALUES

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SEEDS = {path.name: path.read_text() for path in sorted(EXAMPLES.glob("*.yaml"))}
PROBLEM_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<message>\S.*)$")

YAML_SPECIALS = list(":-?[]{},&*!|>'\"%@`#\t\n ") + ["\\", "---", "...", "<<: *a", "&a", "*a", "!!binary", "!!str"]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)  # controls: ODD_CHARACTERS
ODD_CHARACTERS = ["é", "💥", "\u200b", "\x00", "\x7f", "\ufeff", "\u2028", "\r"]
SNIPPET = st.one_of(st.sampled_from(YAML_SPECIALS), TEXT, st.sampled_from(ODD_CHARACTERS))

BILLION_LAUGHS = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n" for i in range(9))
VALUES = [
    "[]", "{}", "[1, 2]", "{a: b}", "~", "null", "true", "no", "0", "-1", "1e400", "1.0e400", ".inf", "-.inf",
    ".nan", "9" * 5000, "0x_ff", "0o17", "1_000", "2024-01-01", "2024-13-45 25:61:00", "12:30:00", '"\\u0000"',
    "'💥'", "\"tab\\tin\"", "!!binary aGVsbG8=", "!!python/object:os.system x", "!!set {a, b}", "!!omap [a: 1]",
    "&anchor value", "*undefined", "|\n  block", ">-\n  folded", "[" * 60 + "]" * 60, "{a: " * 60 + "b" + "}" * 60,
    "99.9%", "30d", "1h30m", "month", "50ms", "'{{.window}}'", "sum(rate(x[{{.window}}]))", "sum(rate(x[5m]",
    "?", "- - -", "@", "`", "%YAML 1.1",
]
KEY = re.compile(r"^(\s*(?:- )?)([A-Za-z_][\w.-]*)(:)", re.MULTILINE)
KEY_VALUE = re.compile(r"^(\s*(?:- )?[A-Za-z_][\w.-]*: )(.+)$", re.MULTILINE)


@st.composite
def mutation(draw: st.DrawFn, text: str) -> str:
    """One edit of a spec's text: characters, lines, keys or values."""
    kind = draw(st.sampled_from(["delete", "insert", "replace", "line_delete", "line_dup", "line_swap", "indent",
                                 "key_rename", "value_swap", "nest", "alias", "laughs", "truncate"]))
    lines = text.splitlines(keepends=True) or [""]
    position = draw(st.integers(0, len(text)))
    if kind == "delete":
        return text[:position] + text[position + draw(st.integers(1, 20)):]
    if kind == "insert":
        return text[:position] + draw(SNIPPET) + text[position:]
    if kind == "replace":
        return text[:position] + draw(SNIPPET) + text[position + 1:]
    line = draw(st.integers(0, len(lines) - 1))
    if kind == "line_delete":
        return "".join(lines[:line] + lines[line + 1:])
    if kind == "line_dup":
        return "".join(lines[:line + 1] + lines[line:])
    if kind == "line_swap":
        other = draw(st.integers(0, len(lines) - 1))
        lines[line], lines[other] = lines[other], lines[line]
        return "".join(lines)
    if kind == "indent":
        prefix = draw(st.sampled_from([" ", "   ", "\t", ""]))
        body = lines[line] if prefix else lines[line].lstrip(" ")
        return "".join(lines[:line] + [prefix + body] + lines[line + 1:])
    if kind == "key_rename":
        keys = list(KEY.finditer(text))
        if not keys:
            return text
        match = draw(st.sampled_from(keys))
        new_key = draw(st.one_of(TEXT, st.sampled_from(["objectiv", "slo", "name", "version", "sli", "kind", "spec",
                                                         "apiVersion", "<<", "1", "true", "null", "~", "[a]"])))
        return text[:match.start(2)] + new_key + text[match.end(2):]
    if kind == "value_swap":
        pairs = list(KEY_VALUE.finditer(text))
        if not pairs:
            return text
        match = draw(st.sampled_from(pairs))
        return text[:match.start(2)] + draw(st.sampled_from(VALUES)) + text[match.end(2):]
    if kind == "nest":
        depth = draw(st.integers(1, 3000))
        return text[:position] + "[" * depth + "]" * depth + text[position:]
    if kind == "alias":
        return text[:position] + draw(st.sampled_from(["&a ", "*a", "<<: *a\n", "&a [*a]", "*a\n", "&x {b: *x}"])) + \
            text[position:]
    if kind == "laughs":
        return BILLION_LAUGHS + text
    return text[:position]


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30, max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True), TEXT, st.sampled_from(VALUES),
)
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8)


@st.composite
def tree_mutation(draw: st.DrawFn, text: str) -> str:
    """Replace, drop or add one value somewhere in the parsed documents, and write them back as YAML."""
    docs = list(yaml.safe_load_all(text))
    holder: Any = docs
    key: Any = draw(st.integers(0, len(docs) - 1))
    while isinstance(holder[key], (dict, list)) and holder[key] and draw(st.integers(0, 4)):
        holder = holder[key]
        key = draw(st.sampled_from(sorted(holder) if isinstance(holder, dict) else range(len(holder))))
    action = draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "drop" and holder is not docs:
        del holder[key]
    elif action == "add" and isinstance(holder, dict):
        holder[draw(st.one_of(TEXT, st.sampled_from(sorted(holder))))] = draw(TREES)
    else:
        holder[key] = draw(TREES)
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=draw(st.booleans()))


@st.composite
def mutated_spec(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SEEDS)))
    text = SEEDS[name]
    for _ in range(draw(st.integers(0, 2))):
        text = draw(tree_mutation(text))
    for _ in range(draw(st.integers(0 if text != SEEDS[name] else 1, 3))):
        text = draw(mutation(text))
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 19)) == 0:  # now and then, binary junk
        junk = draw(st.binary(min_size=1, max_size=64))
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + junk + data[cut:]
    return name, data


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="spec-fuzz-") as directory:
        yield Path(directory)


def check_loader(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        spec = load_spec(path)
    except SpecError as exc:
        lines = str(exc).splitlines()
        assert lines and len(lines) == len(exc.problems)
        line_count = max(1, data.count(b"\n") + 1)
        for line in lines:
            match = PROBLEM_LINE.match(line)
            assert match, f"not FILE:LINE:COL: message: {line!r}"
            assert match["file"] == str(path)
            assert 1 <= int(match["line"]) <= line_count + 1 and int(match["col"]) >= 1, line
            assert "\n" not in match["message"]
        return
    assert isinstance(spec, Spec) and spec.slos is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_spec())
def test_loader_never_raises_anything_but_spec_error(scratch: Path, case: tuple[str, bytes]) -> None:
    name, data = case
    check_loader(scratch / name, data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_spec())
def test_validate_never_prints_a_traceback(scratch: Path, case: tuple[str, bytes]) -> None:
    name, data = case
    path = scratch / f"cli-{name}"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(path)])
    out_text, err_text = out.getvalue(), err.getvalue()
    assert code in (0, 2), err_text
    assert "Traceback" not in err_text and "internal error" not in err_text, err_text
    if code == 2:
        assert out_text == "" and err_text
        assert all(PROBLEM_LINE.match(line) for line in err_text.splitlines()), err_text
    else:
        assert err_text == "" and out_text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text, message", [
    (BILLION_LAUGHS, f"more than {MAX_EXPANDED_VALUES} values once YAML aliases (*name) are expanded"),
    ("a: &a [*a]\n", "a YAML alias refers to a mapping or list that contains it"),
    ("a: &a {b: *a}\n", "a YAML alias refers to a mapping or list that contains it"),
    ("[" * 5000 + "]" * 5000 + "\n", None),
    ("version: " + "9" * 5000 + "\n", None),
])
def test_hostile_yaml_is_refused_quickly(scratch: Path, text: str, message: str | None) -> None:
    path = scratch / "hostile.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert len(caught.value.problems) == 1
    if message:
        assert caught.value.problems[0].message == message


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seeds_are_valid(name: str) -> None:
    assert load_spec(EXAMPLES / name).slos
