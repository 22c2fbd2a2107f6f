"""`generate` writes the same bytes as the reference run for the examples and the 1000-SLO fleet spec.

``tests/output_sha256.json`` keeps the sha256 of every file (not the files) that ``generate`` wrote
for each case and target when the reference was taken; a redesign that changes an output must
change this reference in the same commit and say why there. Specs are copied into a temporary
folder and named by bare file name (their name appears in each file's header), and the absolute
output folder (in the Grafana provisioning file) is replaced by ``<OUT>`` before hashing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from harness.fleet import spec_text
from triton_slo.cli import main

REPO = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((Path(__file__).with_name("output_sha256.json")).read_text())
EXAMPLES = ("resnet-classifier.yaml", "sloth-triton.yaml", "openslo-triton.yaml")
CASES = {
    "resnet-classifier": ["resnet-classifier.yaml"],
    "sloth-triton": ["sloth-triton.yaml"],
    "openslo-triton": ["openslo-triton.yaml"],
    "examples": list(EXAMPLES),
    "bench-fleet": ["bench-fleet.yaml"],
}


def digests(out: Path) -> dict[str, str]:
    found = {}
    for path in sorted(out.rglob("*")):
        if path.is_file():
            data = path.read_bytes().replace(str(out.resolve()).encode(), b"<OUT>")
            found[str(path.relative_to(out))] = hashlib.sha256(data).hexdigest()
    return found


@pytest.fixture(scope="module")
def specs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("specs")
    for name in EXAMPLES:
        shutil.copyfile(REPO / "examples" / name, folder / name)
    (folder / "bench-fleet.yaml").write_text(spec_text(1000, 40))
    return folder


@pytest.mark.timeout(240)
@pytest.mark.parametrize("target", ["files", "kubernetes"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_files_match_the_reference(case: str, target: str, specs_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(specs_dir)
    out = specs_dir / f"out-{case}-{target}"
    assert main(["generate", *CASES[case], "-o", str(out), "--target", target]) == 0
    capsys.readouterr()
    got, want = digests(out), REFERENCE[f"{case}/{target}"]
    assert sorted(got) == sorted(want), "files written differ from the reference"
    changed = sorted(name for name in want if got[name] != want[name])
    assert not changed, f"{len(changed)} files differ from the reference: {changed[:10]}"
