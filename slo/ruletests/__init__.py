"""Builder: generated promtool unit tests of the SLO rules, ``OUT/tests/<service>-slo.yaml``.

For every SLO the tests feed synthetic input series through the generated rules in several
scenarios (``scenarios``): a healthy period, a slow burn, a fast burn, and where configured low
traffic and silence. Per-model SLIs read Triton's or the exporter's series, which the tests
write; custom SLIs (ratio, timeslice) read the user's own series, found from the selectors of
their PromQL (``leaves``, ``custom``, ``regex``), and the reference model evaluates the same
query over them (``evaluator``). A query shape the model cannot evaluate gets no test and a note.

Which alerts fire when comes from the reference model of the rules (``refmodel``, on
``prometheus``' arithmetic) over the same input samples, never from running the rules
(``groups``, ``index``, ``expected``, ``annotations``). The file stays small and promtool fast for
thousands of SLOs: SLOs whose inputs do not collide share tests (``packing``), one ``ALERTS``
query per checked moment checks their alerts, and every alert's labels and annotations are
checked in full once (``cover``); ``document`` makes the file's document, ``spectests`` one spec's
tests. A spec of hundreds of SLOs is built in two forked processes, each writing the tests of
half its SLO shapes.

The one entry point is ``build``: it returns artifacts; the output layer writes them.
"""

from __future__ import annotations

from triton_slo.artifacts import Artifact, Built, Options
from triton_slo.background import Background, fork_pays
from triton_slo.names import TESTS_DIR
from triton_slo.rules import SpecRules
from triton_slo.ruletests.document import HEADER, test_document, test_file_name
from triton_slo.ruletests.spectests import SpecContext, build_tests, spec_context

KUBERNETES_NOTE = "SLO rule tests: not written for --target kubernetes (promtool reads plain rule files)"


def _part(context: SpecContext, part: tuple[int, int]) -> tuple[list[dict], list[str]]:
    """The test items and notes of one part of a spec's SLOs."""
    built = build_tests(context.made, part, context)
    return built.document["tests"], built.notes


def build(made: list[SpecRules], options: Options) -> Built:
    """The promtool tests of every spec's SLO rules: one ``rule-tests`` artifact per spec that has
    tests, and the notes about SLOs without them (none for ``--target kubernetes``)."""
    result = Built()
    if options.target == "kubernetes":
        result.notes.append(KUBERNETES_NOTE)
        return result
    for spec_rules in made:
        # A large spec's tests are built in two processes (two halves of its SLO shapes), on Linux.
        parts = 2 if fork_pays(len(spec_rules.slos)) else 1
        context = spec_context(spec_rules)  # made once: the forked part inherits it
        others = [Background(_part, context, (k, parts)) for k in range(1, parts)]
        try:
            pieces = [_part(context, (0, parts))] + [job.result() for job in others]
        finally:
            for job in others:
                job.stop()
        tests = [test for part_tests, _ in pieces for test in part_tests]
        for _, notes in pieces:
            result.notes.extend(notes)
        if not tests:
            continue
        spec = spec_rules.spec
        name = test_file_name(spec)
        result.artifacts.append(Artifact(f"{TESTS_DIR}/{name}", "rule-tests", test_document(spec, tests),
                                         header=HEADER.format(name=name), service=spec.service.name))
    return result


__all__ = ["build"]
