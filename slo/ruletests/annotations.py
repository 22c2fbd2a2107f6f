"""Our own alert annotations, filled in as Prometheus fills them in when an alert fires."""

from __future__ import annotations

import re
from collections.abc import Callable

from triton_slo.rules import SloPlan

_LABEL = re.compile(r"\{\{ \$labels\.(\w+) \}\}")


def humanize_percentage(value: float) -> str:
    """Prometheus' ``humanizePercentage``."""
    return "%.4g%%" % (value * 100)


def ambiguous(text: Callable[[float], str], value: float) -> bool:
    """Whether a value known to ~1e-9 (relative) might print differently when exact."""
    spread = max(abs(value) * 1e-7, 1e-12)
    return text(value - spread) != text(value + spread)


def render(template: str, labels: dict[str, str], value: float, budget_left: str, budget_template: str) -> str:
    """One annotation: ``budget_template`` (the "budget left" lookup) replaced by ``budget_left``,
    ``$value`` and ``$labels.x`` filled in."""
    text = template.replace(budget_template, budget_left)
    text = text.replace('{{ printf "%.2f" $value }}', f"{value:.2f}")
    return _LABEL.sub(lambda m: labels.get(m.group(1), ""), text)


def static_annotations_ok(p: SloPlan) -> bool:
    """User annotations we can fill in (``{{ $labels.x }}`` at most)."""
    rest = [_LABEL.sub("", v) for v in p.slo.alerting.annotations.values()]
    return not any("{{" in v for v in rest)


def annotations(rule: dict, fill: Callable[[str], str]) -> tuple[tuple[str, str], ...]:
    """A rule's annotations filled in, sorted by name."""
    return tuple(sorted((k, fill(v)) for k, v in rule["annotations"].items()))
