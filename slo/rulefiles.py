"""Builder: the SLO rule file of each spec, ``OUT/rules/<service>-slo.yaml``, from its planned rules."""

from __future__ import annotations

from triton_slo import names
from triton_slo.artifacts import Artifact, Built
from triton_slo.durations import format_duration
from triton_slo.rules import (
    PERIOD_GROUP_SUFFIX,
    SpecRules,
    period_interval,
    static_notes,
    static_warnings,
    tier_reports,
)


def period_header(evaluation_interval: int) -> str:
    """The comment under the file header that says how often the period groups run."""
    every = period_interval(evaluation_interval)
    if every <= evaluation_interval:
        return ""
    return (f"# Groups named '...{PERIOD_GROUP_SUFFIX}' (period ratio, period burn rate, budget left) run every "
            f"{format_duration(every)}\n# (`interval`), the others every {format_duration(evaluation_interval)}: "
            "the period rules read a whole SLO period of samples,\n# and stay under Prometheus' 5m lookback, "
            "so their series never go stale.\n")


def build_rule_files(made: list[SpecRules]) -> Built:
    result = Built()
    for spec_rules in made:
        spec, interval = spec_rules.spec, spec_rules.interval
        name = names.slo_rule_file(spec.service.name)
        result.artifacts.append(Artifact(
            f"{names.RULES_DIR}/{name}", "rules", {"groups": spec_rules.file_groups()},
            header=names.FILE_HEADER.format(source=spec.path or spec.service.name) + period_header(interval),
            service=spec.service.name))
        every = period_interval(interval)
        if every > interval and spec_rules.slos:
            result.notes.append(f"{name}: the period rules (groups '...{PERIOD_GROUP_SUFFIX}') run every "
                                f"{format_duration(every)}, the other SLO rules every {format_duration(interval)}")
        for p in spec_rules.plans:
            where = f"{spec.service.name}/{p.slo.name}"
            result.warnings.extend(static_warnings(p, interval))
            result.notes.extend(f"{where}: {note}" for note in (*p.queries.notes, *static_notes(p)))
            result.notes.extend(f"{where}: {report.text()}" for report in tier_reports(p))
    return result
