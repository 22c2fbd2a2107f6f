"""The layer rule of the package, enforced by walking every import of every module.

    core      errors, durations, names, promql, links, model, artifacts, background, canary.config:
              import nothing of ours outside the core.
    readers   triton_slo.readers.*: the core and each other.
    engine    burnrate, sliexpr, rules (one plan per SLO and its rules): the core and the engine.
    builders  rulefiles, ruletests, canary.rules, alerts, dashboards, runbooks: the core, the engine
              and their own package; never another builder, never the output layer.
    output    triton_slo.output.*: the core and itself (it wraps and writes artifacts).
    pipeline  triton_slo.pipeline: every layer above.
    commands  the CLI, its subcommands, status, promapi, the canary judge, the exporter,
              dashboards.snapshot, runbooks.cli: anything.

No module imports an in-tree module inside a function (no cycle is broken that way), none imports
a private name of another module, and nothing of the package imports the test harness.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"triton_slo": REPO / "slo", "triton_slo.exporters": REPO / "exporters",
         "triton_slo.dashboards": REPO / "dashboards", "triton_slo.alerts": REPO / "alerts",
         "triton_slo.runbooks": REPO / "runbooks"}
CORE = {"triton_slo", "triton_slo.errors", "triton_slo.durations", "triton_slo.names", "triton_slo.promql",
        "triton_slo.links", "triton_slo.model", "triton_slo.artifacts", "triton_slo.background",
        "triton_slo.canary", "triton_slo.canary.config"}
ENGINE = {"triton_slo.burnrate", "triton_slo.sliexpr", "triton_slo.rules"}
BUILDERS = ("triton_slo.rulefiles", "triton_slo.ruletests", "triton_slo.canary.rules", "triton_slo.alerts",
            "triton_slo.dashboards", "triton_slo.runbooks")
COMMANDS_IN_BUILDER_PACKAGES = {"triton_slo.dashboards.snapshot", "triton_slo.runbooks.cli"}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if name.startswith("triton_slo.") and name.split(".")[1] in ("exporters", "dashboards", "alerts",
                                                                       "runbooks") and folder == REPO / "slo":
                continue
            found[name] = path
    return found


MODULES = modules()


def layer(name: str) -> str:
    if name in COMMANDS_IN_BUILDER_PACKAGES:
        return "commands"
    if name in CORE:
        return "core"
    if name == "triton_slo.readers" or name.startswith("triton_slo.readers."):
        return "readers"
    if name in ENGINE:
        return "engine"
    for builder in BUILDERS:
        if name == builder or name.startswith(builder + "."):
            return "builder:" + builder
    if name == "triton_slo.output" or name.startswith("triton_slo.output."):
        return "output"
    if name == "triton_slo.pipeline":
        return "pipeline"
    return "commands"


ALLOWED = {
    "core": {"core"},
    "readers": {"core", "readers"},
    "engine": {"core", "engine"},
    "output": {"core", "output"},
    "pipeline": {"core", "readers", "engine", "builder", "output"},
    "commands": {"core", "readers", "engine", "builder", "output", "pipeline", "commands"},
}


def in_tree(module: str) -> str | None:
    """The module of ours an import names (the longest known prefix), or None."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in MODULES:
            return name
    return None


def imports(path: Path) -> list[tuple[str, list[str], bool, int]]:
    """(module, names, inside a function, line) for every import statement of a file."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, [], in_function, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                found.append((child.module, [a.name for a in child.names], in_function, child.lineno))
            visit(child, inner)

    visit(tree, False)
    return found


def edges() -> list[tuple[str, str, list[str], bool, int]]:
    out = []
    for name, path in MODULES.items():
        for module, names, in_function, line in imports(path):
            targets = [in_tree(f"{module}.{n}") or in_tree(module) for n in names] or [in_tree(module)]
            for target in {t for t in targets if t}:
                out.append((name, target, names, in_function, line))
    return out


EDGES = edges()


def test_the_package_is_found() -> None:
    assert {"triton_slo.pipeline", "triton_slo.rules", "triton_slo.output.files", "triton_slo.cli"} <= set(MODULES)


def test_every_import_follows_the_layer_rule() -> None:
    wrong = []
    for source, target, _, _, line in EDGES:
        a, b = layer(source), layer(target)
        if a.startswith("builder:"):
            ok = b in ("core", "engine") or b == a
        else:
            ok = (b.split(":")[0] if b.startswith("builder:") else b) in ALLOWED[a]
        if not ok:
            wrong.append(f"{MODULES[source].relative_to(REPO)}:{line}: {source} ({a}) imports {target} ({b})")
    assert not wrong, "\n".join(wrong)


def test_no_in_tree_import_inside_a_function() -> None:
    inside = [f"{MODULES[s].relative_to(REPO)}:{line}: imports {t}" for s, t, _, in_function, line in EDGES
              if in_function]
    assert not inside, "\n".join(inside)


def test_no_private_name_imported_from_another_module() -> None:
    private = [f"{MODULES[s].relative_to(REPO)}:{line}: {t}.{n}" for s, t, names, _, line in EDGES
               for n in names if n.startswith("_") and not n.startswith("__")]
    assert not private, "\n".join(private)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_nothing_imports_the_harness_or_the_old_top_level_names(name: str) -> None:
    for module, _, _, line in imports(MODULES[name]):
        top = module.split(".")[0]
        assert top not in ("slo", "exporters", "dashboards", "alerts", "runbooks", "harness", "tests"), (
            f"{MODULES[name].relative_to(REPO)}:{line}: imports {module}")


def test_pyproject_lists_every_package_folder() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert listed == folders


# Builders return artifacts; only the output layer touches the file system. The runbooks package
# reads its own templates (package data), never OUT/.
FILE_CALLS = {"open", "write_text", "write_bytes", "read_text", "read_bytes", "mkdir", "unlink", "glob", "rglob",
              "rmtree", "copyfile"}
FILE_MODULES = {"os", "shutil", "tempfile"}  # any call of these (os.replace, shutil.copyfile, ...)
READS_PACKAGE_DATA = {"triton_slo.runbooks"}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n).startswith("builder:")))
def test_no_builder_touches_the_file_system(name: str) -> None:
    calls = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            module = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if called in FILE_CALLS or module in FILE_MODULES:
                calls.add((called, node.lineno))
    if name in READS_PACKAGE_DATA:
        calls = {c for c in calls if c[0] not in ("glob", "read_text")}
    assert not calls, f"{MODULES[name].relative_to(REPO)}: {sorted(calls)}"
