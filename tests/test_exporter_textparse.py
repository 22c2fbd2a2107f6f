"""triton_slo.exporters.textparse against prometheus_client.parser (the oracle) on every real recording."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from triton_slo.exporters import textparse

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
RECORDINGS = sorted(FIXTURES.glob("*.prom")) if FIXTURES.is_dir() else []


def _value(value: float) -> object:
    return "NaN" if math.isnan(value) else float(value)


def client_view(text: str) -> list[tuple]:
    """What prometheus_client reads: (family, type, help, [(sample, labels, value, timestamp)])."""
    return [
        (
            family.name,
            family.type,
            family.documentation,
            [(s.name, s.labels, _value(s.value), s.timestamp) for s in family.samples],
        )
        for family in text_string_to_metric_families(text)
    ]


def our_view(text: str) -> list[tuple]:
    """Our parse, with prometheus_client's known renaming applied so the two can be compared:
    a counter family loses a `_total` suffix, otherwise its samples gain one; untyped is unknown."""
    view = []
    for family, samples in textparse.parse(text)[0]:
        name, rename = family.name, ""
        if family.type == "counter":
            if name.endswith("_total"):
                name = name[: -len("_total")]
            else:
                rename = "_total"
        view.append(
            (
                name,
                "unknown" if family.type == "untyped" else family.type,
                family.help or "",
                [(s.name + rename, s.labels, _value(s.value), s.timestamp) for s in samples],
            )
        )
    return view


def test_recordings_are_present() -> None:
    if not FIXTURES.is_dir():
        pytest.skip(f"real recordings not found: {FIXTURES} is absent")
    assert len(RECORDINGS) >= 6, f"expected the Triton and dcgm-exporter recordings in {FIXTURES}"


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda p: p.name)
def test_parse_equals_prometheus_client_on_real_recording(recording: Path) -> None:
    text = recording.read_text()
    scanned = textparse.scan(text)
    assert scanned.bad_lines == 0
    assert our_view(text) == client_view(text)
    # every sample line of the recording is kept, byte for byte
    sample_lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert [line for family in scanned.families for line in family.lines] == sample_lines


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda p: p.name)
def test_recording_without_final_newline_parses_the_same(recording: Path) -> None:
    text = recording.read_text()
    assert our_view(text.rstrip("\n")) == client_view(text)


def test_counter_names_are_kept_as_upstream_wrote_them() -> None:
    text = "# TYPE nv_inference_count counter\nnv_inference_count{model=\"m\",version=\"1\"} 3\n"
    family = textparse.scan(text).families[0]
    assert family.lines == ['nv_inference_count{model="m",version="1"} 3']
    assert family.samples()[0].name == "nv_inference_count"
    # the oracle renames it: the trap the passthrough must not fall into
    assert next(iter(text_string_to_metric_families(text))).samples[0].name == "nv_inference_count_total"


def test_bad_lines_are_skipped_and_counted() -> None:
    text = (
        "# TYPE a gauge\n"
        "a{x=\"1\"} 1\n"
        "a{x=\"2} 2\n"  # unterminated label value
        "a{x=\"3\"} one\n"  # not a number
        "a{x=\"4\"} 1_000\n"  # Go and prometheus_client reject underscores
        "# TYPE b sometype\n"  # unknown type
        "{x=\"5\"} 5\n"  # no name
        "a{x=\"6\"} 6\n"
        "garbage \x00\x01\n"
        "# just a comment\n"
        "c 7 1700000000000\n"
    )
    scanned = textparse.scan(text)
    assert scanned.bad_lines == 6
    assert scanned.first_bad == 'a{x="2} 2'
    assert [family.name for family in scanned.families] == ["a", "b", "a", "c"]
    assert scanned.families[0].lines == ['a{x="1"} 1']
    assert scanned.families[1].type == "untyped"  # its TYPE line was bad
    assert scanned.families[2].lines == ['a{x="6"} 6']  # a sample of another name opens a family
    by_name = {family.name: family for family in scanned.families}
    assert [s.value for s in by_name["c"].samples()] == [7.0]
    assert by_name["c"].samples()[0].timestamp == 1700000000.0
    assert by_name["c"].has_timestamps


def test_nan_and_inf_and_escapes() -> None:
    text = (
        "# HELP q A \\\\ help\\nline\n# TYPE q summary\n"
        'q{quantile="0.5",path="C:\\\\dir \\"x\\"\\nnext"} NaN\n'
        "q_sum +Inf\nq_count -inf\n"
    )
    assert our_view(text) == client_view(text)
    family = textparse.scan(text).families[0]
    assert family.help == "A \\ help\nline"
    sample = family.samples()[0]
    assert math.isnan(sample.value)
    assert sample.labels["path"] == 'C:\\dir "x"\nnext'


def test_lenient_spacing_matches_the_oracle() -> None:
    text = '# TYPE g gauge\ng { a = "1" , b="2" , }   4.5  \ng\t7\n'
    assert textparse.scan(text).bad_lines == 0
    assert our_view(text) == client_view(text)


_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True)
_label_names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,8}", fullmatch=True).filter(lambda n: n != "le")
_label_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**12), max_value=10**12).map(float),
)


@st.composite
def exposition(draw: st.DrawFn) -> str:
    lines = []
    used: set[str] = set()
    for _ in range(draw(st.integers(1, 4))):
        name = draw(_names.filter(lambda n, used=used: n not in used and not n.endswith(("_total", "_sum",
                                                                                          "_count"))))
        used.add(name)
        kind = draw(st.sampled_from(["counter", "gauge", "untyped", "summary"]))
        if draw(st.booleans()):
            lines.append(f"# HELP {name} {draw(st.text(st.characters(codec='ascii'), max_size=10)).strip()}"
                         .replace("\\", "\\\\").replace("\n", "\\n").replace("\r", ""))
        lines.append(f"# TYPE {name} {kind}")
        for _ in range(draw(st.integers(0, 3))):
            labels = draw(st.dictionaries(_label_names, _label_values, max_size=3))
            suffix = draw(st.sampled_from(["", "_sum", "_count"])) if kind == "summary" else ""
            lines.append(textparse.render_sample(name + suffix, labels, draw(_values)))
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(exposition())
def test_generated_exposition_matches_the_oracle(text: str) -> None:
    assert textparse.scan(text).bad_lines == 0
    assert our_view(text) == client_view(text)
