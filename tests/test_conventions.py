"""docs/CONVENTIONS.md documents slo/names.py: every public name of the module is on the page with
its value, and every series, rule, alert and panel the page names exists in the module."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from triton_slo import names

DOC = (Path(__file__).resolve().parents[1] / "docs" / "CONVENTIONS.md").read_text()
TICKED = re.findall(r"`([^`\n]+)`", DOC)  # every `...` on the page
# What a name on the page may carry after the value it stands for: a window, a wildcard, a
# histogram's series.
SUFFIX = re.compile(r"(<W>|\*|\.\+|_bucket|_count|_sum)?")
# Names of series, recording rules and alerts: these must all be names.py's.
NAME_LIKE = re.compile(r"(nv_\w*|DCGM_\w+|triton_slo_\w*|slo:[\w:]*|TritonSlo\w*)(<W>|\*)?")


def public() -> dict[str, object]:
    return {key: value for key, value in vars(names).items()
            if not key.startswith("_") and not inspect.ismodule(value) and key != "annotations"}


def values() -> set[str]:
    """Every string names.py defines: constants and the strings inside its tuples and dicts."""
    found: set[str] = set()
    for value in public().values():
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, tuple):
            found.update(v for v in value if isinstance(v, str))
        elif isinstance(value, dict):  # keys and values both on the page (`key`: `value` for labels)
            found.update(v for v in (*value, *value.values()) if isinstance(v, str))
    return found


def on_page(value: str) -> bool:
    return any(t == value or (t.startswith(value) and SUFFIX.fullmatch(t[len(value):])) for t in TICKED)


@pytest.mark.parametrize("name", sorted(public()))
def test_every_public_name_of_the_module_is_documented(name: str) -> None:
    assert any(t == name or t.startswith((name + "(", name + ".")) for t in TICKED), (
        f"`{name}` is not on docs/CONVENTIONS.md")


@pytest.mark.parametrize("value", sorted(values()))
def test_every_value_of_the_module_is_documented(value: str) -> None:
    if "\n" in value.strip():
        pytest.fail(f"{value!r}: a multi-line value cannot be documented in a table")
    assert on_page(value.strip()), f"`{value.strip()}` (a value of triton_slo.names) is not on docs/CONVENTIONS.md"


# Strings and tuples of strings; the groups of alerts are checked against the alert table below.
CONSTANTS = {k: v for k, v in public().items() if k.isupper() and (
    isinstance(v, str) or isinstance(v, tuple) and not set(v) <= set(names.ALL_ALERTS))}


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_each_constant_is_documented_with_its_value(name: str) -> None:
    """On the line (a table row, a heading) that names the constant, its value, or each of its values."""
    value = CONSTANTS[name]
    wanted = [v.strip() for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, str)]
    lines = [line for line in DOC.splitlines() if f"`{name}`" in line]
    assert any(all(any(t == v or (t.startswith(v) and SUFFIX.fullmatch(t[len(v):]))
                       for t in re.findall(r"`([^`\n]+)`", line)) for v in wanted) for line in lines), (
        f"no line of docs/CONVENTIONS.md gives `{name}` with its value {value!r}")


def test_every_series_rule_and_alert_the_page_names_is_defined_in_the_module() -> None:
    known = values()
    named = {t for t in TICKED if NAME_LIKE.fullmatch(t) and t not in public()}  # values, not the constants' names
    assert named, "no names found on the page"
    unknown = sorted(t for t in named if NAME_LIKE.fullmatch(t).group(1) not in known)
    assert not unknown, f"named on docs/CONVENTIONS.md but not in triton_slo.names: {unknown}"


def _row(cell: str) -> str:
    rows = [line for line in DOC.splitlines() if line.startswith("|") and f"| `{cell}` |" in line]
    assert len(rows) == 1, f"expected one table row for `{cell}`, found {len(rows)}"
    return rows[0]


@pytest.mark.parametrize("alert", sorted(names.ALL_ALERTS))
def test_each_alert_row_gives_the_panel_it_links_to(alert: str) -> None:
    board, panel = names.ALERT_PANELS[alert]
    row = _row(alert)
    owner = {"oncall": names.OncallPanel, "slo": names.SloPanel}[board]
    attribute = next(k for k, v in vars(owner).items() if v == panel and not k.startswith("_"))
    assert f"`{board}` `{owner.__name__}.{attribute}`" in row, row


def test_the_alert_groups_hold_every_alert_once() -> None:
    assert len(set(names.ALL_ALERTS)) == len(names.ALL_ALERTS)
    assert set(names.ALL_ALERTS) == set(names.ALERT_PANELS)
    assert set(names.ALL_ALERTS) == {*names.SLO_ALERTS, names.CANARY_REGRESSION, *names.OPS_ALERTS}
    assert all(a.startswith(names.ALERT_PREFIX) for a in names.ALL_ALERTS)
    assert [names.burn_alert_name(k) for k in names.BURN_ALERTS] == list(names.BURN_ALERTS.values())


PANELS = [f"{cls.__name__}.{k}" for cls in (names.OncallPanel, names.SloPanel)
          for k in vars(cls) if not k.startswith("_")]


@pytest.mark.parametrize("panel", PANELS)
def test_each_panel_id_is_documented_with_its_value(panel: str) -> None:
    cls_name, attribute = panel.split(".")
    assert f"| `{panel}` | {getattr(getattr(names, cls_name), attribute)} |" in DOC


def test_every_panel_the_page_names_exists() -> None:
    for cls_name, attribute in re.findall(r"`(OncallPanel|SloPanel)\.(\w+)`", DOC):
        assert hasattr(getattr(names, cls_name), attribute), f"{cls_name}.{attribute}"
