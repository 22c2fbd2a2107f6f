"""`triton-slo generate`: one pipeline from the specs to every output.

    readers (triton_slo.readers) -> Spec models
      -> one plan per SLO, with its rules (triton_slo.rules.spec_rules, made once per spec)
      -> builders, each returning artifacts in memory (triton_slo.artifacts.Built):
           SLO rule files, their promtool tests, canary rules, ops alerts and their tests and
           alertmanager.yaml, dashboards, then the runbooks of every alert those rule artifacts hold
      -> the output layer: `--target kubernetes` wraps the artifacts (triton_slo.output.kubernetes),
         and every file is rendered by the one writer of its format and put in place
         (triton_slo.output.files); no builder reads or writes OUT/.

The only order between builders is data: the runbooks read the alert names of the rule artifacts.
The rule tests of large specs are built in forked processes beside the other builders.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from triton_slo.alerts.generate import build_ops
from triton_slo.artifacts import Built, Options
from triton_slo.background import Background, fork_pays
from triton_slo.canary.rules import build_canary_rules
from triton_slo.dashboards.generate import build_dashboards
from triton_slo.durations import flag_duration
from triton_slo.model import Spec
from triton_slo.names import DASHBOARDS_DIR
from triton_slo.output import files, kubernetes
from triton_slo.rulefiles import build_rule_files
from triton_slo.rules import SpecRules, spec_rules
from triton_slo.runbooks.generate import alert_names, build_runbooks


def evaluation_seconds(options: Options) -> int:
    """``--evaluation-interval`` in whole seconds."""
    return max(1, int(flag_duration(options.evaluation_interval, "--evaluation-interval")))


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Builders make millions of small acyclic objects (rules, tests, dashboards) that live until
    they are written; the cycle collector would walk them again and again, which costs about as
    much as the work itself for thousands of SLOs. Reference counting still frees them; the
    collector runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build(specs: list[Spec], options: Options, out: Path) -> Built:
    """Every artifact of ``generate`` for ``specs`` (``out`` only names where the dashboards'
    provisioning file will point); nothing is written."""
    with _without_cyclic_gc():
        made = [spec_rules(spec, evaluation_seconds(options)) for spec in specs]
        files_target = options.target == "files"
        tests = _rule_tests(made, options)
        try:
            rules = build_rule_files(made)
            canary = build_canary_rules(specs, options.evaluation_interval)
            ops = build_ops(specs, with_tests=files_target)
            dashboards = build_dashboards(made, out / DASHBOARDS_DIR)
            rule_documents = [a.document for b in (rules, canary, ops) for a in b.artifacts if a.kind == "rules"]
            runbooks = build_runbooks(alert_names(rule_documents))
            built = Built()
            for part in (rules, tests.result(), canary, ops, dashboards, runbooks):
                built.extend(part)
        finally:
            tests.stop()
        return built if files_target else kubernetes.wrap(specs, built, options)


class _Now:
    """A result already made, with the interface of ``Background``."""

    def __init__(self, value: Built) -> None:
        self.value = value

    def result(self) -> Built:
        return self.value

    def stop(self) -> None:
        pass


RULE_TESTS_MODULE = "triton_slo.ruletests"
RULE_TESTS_NEED = "numpy"  # the reference model of the rule tests computes on arrays: the `rule-tests` extra


def build_rule_tests(made: list[SpecRules], options: Options) -> Built:
    """The promtool tests of the SLO rules, or a warning where the `rule-tests` extra is not installed
    (the module is imported by name for that reason: it needs numpy, which a bare install lacks)."""
    if importlib.util.find_spec(RULE_TESTS_NEED) is None:
        return Built(warnings=[f"SLO rule tests: not written ({RULE_TESTS_NEED} is not installed; "
                               "pip install 'triton-slo[rule-tests]')"])
    return importlib.import_module(RULE_TESTS_MODULE).build(made, options)


def _rule_tests(made: list[SpecRules], options: Options) -> Background | _Now:
    """The rule tests, in a forked process beside the other builders when the specs are large."""
    if fork_pays(sum(len(m.slos) for m in made)):
        return Background(build_rule_tests, made, options)
    return _Now(build_rule_tests(made, options))


def generate(specs: list[Spec], out: Path, options: Options) -> tuple[Built, list[Path]]:
    """Build everything and write it under ``out``; returns what was built and the paths written."""
    built = build(specs, options, out)
    return built, files.write(built.artifacts, out)
