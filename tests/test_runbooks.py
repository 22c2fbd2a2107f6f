"""Runbooks: one per alert that `triton-slo generate` can emit and one alert per runbook, their
content, the `triton-slo runbook` command, and the OUT/runbooks generator."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import promql_parser
import pytest
import yaml
from triton_slo import names, runbooks
from triton_slo.cli import main
from triton_slo.runbooks.generate import alert_names, build_runbooks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
BOOKS = runbooks.alert_runbooks()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`triton-slo generate` over every example spec, as a user runs it."""
    out = tmp_path_factory.mktemp("out")
    done = subprocess.run([sys.executable, "-m", "triton_slo", "generate", *map(str, EXAMPLES), "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def test_every_alert_has_a_runbook_and_every_runbook_an_alert(generated: Path) -> None:
    emitted = alert_names(yaml.safe_load(p.read_text()) for p in sorted((generated / "rules").glob("*.yaml")))
    assert emitted, "generate wrote no alerts"
    documented = set(names.ALL_ALERTS)
    assert emitted <= documented, f"alerts not in triton_slo.names.ALL_ALERTS: {emitted - documented}"
    assert emitted | documented == set(BOOKS), (
        f"without runbook: {(emitted | documented) - set(BOOKS)}; runbook without alert: "
        f"{set(BOOKS) - (emitted | documented)}")


def test_runbook_files_are_named_after_their_alert() -> None:
    for name, book in BOOKS.items():
        assert book.path.name == f"{runbooks.runbook_anchor(name)}.md"
        assert book.text.startswith(f"# {name}\n")


@pytest.mark.parametrize("name", sorted(BOOKS))
def test_runbook_has_the_sections_commands_and_links_on_call_needs(name: str) -> None:
    text = BOOKS[name].text
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == list(runbooks.SECTIONS)
    assert "(incident-checklist.md)" in text.split("## Meaning")[0], "link the checklist at the top"
    assert re.search(r"\*\*Severity:\*\* (critical|warning)", text)
    diagnosis = text.split("## Diagnosis")[1].split("## Mitigation")[0]
    assert "```promql" in diagnosis
    assert re.search(r"curl|tritonclient|triton-slo |nvidia-smi", diagnosis)
    assert re.search(r"dashboard|panel", diagnosis, re.I)
    assert len(text.split("## Mitigation")[1].split("## Escalation")[0].strip()) > 200


@pytest.mark.parametrize("name", sorted(BOOKS))
def test_runbook_promql_parses(name: str) -> None:
    for block in re.findall(r"```promql\n(.*?)```", BOOKS[name].text, re.S):
        statements: list[str] = []
        for line in textwrap.dedent(block).splitlines():
            code = re.sub(r"\s+#.*$", "", line) if not line.lstrip().startswith("#") else ""
            if not code.strip():
                continue
            if line.startswith((" ", "\t")) and statements:
                statements[-1] += " " + code.strip()
            else:
                statements.append(code.strip())
        assert statements
        for statement in statements:
            promql_parser.parse(statement)  # raises on anything Prometheus would refuse


def test_links_between_runbooks_resolve() -> None:
    for book in runbooks.load_all().values():
        for target in re.findall(r"\]\(([^)#\s]+\.md)\)", book.text):
            assert (runbooks.RUNBOOK_DIR / target).is_file(), f"{book.path.name} links to missing {target}"


def test_failure_modes_f1_to_f7_each_have_runbooks() -> None:
    checklist = runbooks.load_all()[runbooks.CHECKLIST].text
    for number in range(1, 8):
        assert f"| F{number} |" in checklist
        assert any(f"F{number} " in book.headline for book in BOOKS.values()), f"no runbook covers F{number}"
    everything = " ".join(b.text for b in BOOKS.values())
    for remedy in ("projection shortcut", "activation checkpointing", "quantization-aware retraining",
                   "Roll back", "max_batch_size", "Scale out"):
        assert remedy.lower() in everything.lower(), remedy


# --- triton-slo runbook -------------------------------------------------------------------------

def test_runbook_command_prints_the_runbook_case_insensitively(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbook", "tritonsloGPUoutofmemory"]) == 0
    assert capsys.readouterr().out == BOOKS["TritonSloGpuOutOfMemory"].text


def test_runbook_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbook", "TritonSloServerDown", "--format", "json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["alert"] == "TritonSloServerDown" and entry["severity"] == "critical"
    assert entry["markdown"] == BOOKS["TritonSloServerDown"].text
    assert entry["file"] == "tritonsloserverdown.md"


def test_runbook_list_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbook", "--list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert listed == set(BOOKS) | {runbooks.CHECKLIST}
    assert main(["runbook", "--list", "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {e["alert"] for e in entries if e["alert"]} == set(BOOKS)
    assert {e["severity"] for e in entries if e["alert"]} <= {"critical", "warning", "critical/warning"}


@pytest.mark.parametrize(("argv", "message"), [
    (["runbook", "TritonSloGpuLots"], "did you mean TritonSloGpuLost"),
    (["runbook", "GpuThrottling"], "did you mean TritonSloGpuThrottling"),
    (["runbook", "NodeDown"], "no runbook for alert 'NodeDown' (`triton-slo runbook --list`"),
    (["runbook"], "give an alert NAME"),
    (["runbook", "TritonSloGpuLost", "--list"], "not both"),
])
def test_runbook_command_refuses_unknown_names_with_exit_2(argv: list[str], message: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_runbook_command_through_the_installed_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "triton_slo", "runbook", "incident-CHECKLIST"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("# Incident checklist")
    done = subprocess.run([sys.executable, "-m", "triton_slo", "runbook", "nope"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr


# --- the generator -------------------------------------------------------------------------------

class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if tag == "a":
            self.hrefs.append(values.get("href") or "")
        if tag not in ("meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_generate_copies_the_runbooks_of_the_generated_alerts_and_an_index(generated: Path) -> None:
    folder = generated / "runbooks"
    emitted = alert_names(yaml.safe_load(p.read_text()) for p in sorted((generated / "rules").glob("*.yaml")))
    assert {p.name for p in folder.glob("*.md")} == {f"{n.lower()}.md" for n in emitted} | {"incident-checklist.md"}
    for name in emitted:
        assert (folder / f"{name.lower()}.md").read_text() == BOOKS[name].text
    page = _Collect()
    page.feed((folder / "index.html").read_text())
    assert not page.errors and not page.stack[2:], "unbalanced HTML"
    assert {n.lower() for n in emitted} | {"incident-checklist"} <= page.ids
    internal = [h for h in page.hrefs if h.startswith("#")]
    assert internal and all(h[1:] in page.ids for h in internal)
    assert not [h for h in page.hrefs if h.endswith(".md")], "links between runbooks point into the index"


def test_runbook_urls_of_a_default_spec_resolve_inside_out(tmp_path: Path) -> None:
    spec = yaml.safe_load((ROOT / "examples" / "resnet-classifier.yaml").read_text())
    del spec["service"]["runbook_base_url"]  # default: the OUT/runbooks folder, relative to OUT
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    assert main(["generate", str(path), "-o", str(out)]) == 0
    urls = set()
    for rules in (out / "rules").glob("*.yaml"):
        for group in yaml.safe_load(rules.read_text())["groups"]:
            urls.update(r["annotations"]["runbook_url"] for r in group["rules"] if "alert" in r)
    assert urls and all((out / url).is_file() for url in urls), urls


def test_generate_warns_about_an_alert_without_runbook() -> None:
    rules = [{"alert": "TritonSloServerDown", "expr": "vector(1)"},
             {"alert": "SomebodyElsesAlert", "expr": "vector(1)"}]
    result = build_runbooks(alert_names([{"groups": [{"name": "x", "rules": rules}]}]))
    assert result.warnings == ["alert SomebodyElsesAlert has no runbook in the runbooks package"]
    assert "runbooks/tritonsloserverdown.md" in [a.path for a in result.artifacts]
