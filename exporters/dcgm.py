"""Decode what dcgm-exporter publishes in forms people otherwise stare at (pure functions).

- the clock throttle bitmask -> one 0/1 series per reason,
- the last XID code -> a counter per XID (``XidCounter`` keeps state between scrapes),
- framebuffer free/used/reserved (MiB) -> a memory-headroom ratio,
- GPU index <-> UUID, so Triton's ``gpu_uuid`` can be joined to dcgm-exporter's ``gpu``.

Every other label of the upstream series (MIG ``GPU_I_*``, Kubernetes pod labels, ``exported_*``
under kube-prometheus) is kept unless configured as dropped.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triton_slo import names
from triton_slo.exporters.textparse import Family

# NVML clocks throttle (since NVML 12.x "clocks event") reason bits, in nvml.h order.
THROTTLE_REASONS: tuple[tuple[int, str], ...] = (
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
)
_KNOWN_BITS = sum(bit for bit, _ in THROTTLE_REASONS)

# dcgm-exporter renamed the field with DCGM 3.2; both names are in the field.
THROTTLE_FAMILIES = (names.DCGM_CLOCK_THROTTLE_REASONS, names.DCGM_CLOCKS_EVENT_REASONS)
XID_FAMILY = names.DCGM_XID_ERRORS
FB_FREE, FB_USED, FB_RESERVED = names.DCGM_FB_FREE, names.DCGM_FB_USED, names.DCGM_FB_RESERVED
DECODED_FAMILIES = frozenset((*THROTTLE_FAMILIES, XID_FAMILY, FB_FREE, FB_USED, FB_RESERVED))

Labels = tuple[tuple[str, str], ...]  # sorted label pairs: hashable, stable series identity


@dataclass(frozen=True)
class Series:
    labels: Labels
    value: float


def throttle_reasons(mask: int) -> list[tuple[str, int]]:
    """``(reason, 0|1)`` for every known reason, plus ``bit_N`` for set bits nobody named yet."""
    active = [(name, 1 if mask & bit else 0) for bit, name in THROTTLE_REASONS]
    unknown = mask & ~_KNOWN_BITS
    bit = 0
    while unknown >> bit:
        if (unknown >> bit) & 1:
            active.append((f"bit_{bit}", 1))
        bit += 1
    return active


def headroom_ratio(free: float, used: float, reserved: float = 0.0) -> float | None:
    """Free framebuffer over all framebuffer (free + used + reserved); None when it means nothing."""
    values = (free, used, reserved)
    if any(math.isnan(v) or v < 0 for v in values):
        return None
    total = free + used + reserved
    return free / total if total > 0 else None


def _keep(labels: dict[str, str], drop: frozenset[str]) -> Labels:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))


def _samples_by_family(families: Iterable[Family], drop: frozenset[str]) -> dict[str, dict[Labels, float]]:
    found: dict[str, dict[Labels, float]] = {}
    for family in families:
        if family.name in DECODED_FAMILIES:
            series = found.setdefault(family.name, {})
            for sample in family.samples():
                if sample.name == family.name:
                    series[_keep(sample.labels, drop)] = sample.value
    return found


@dataclass
class Decoded:
    throttle: list[Series]  # labels include `reason`
    headroom: list[Series]
    xid_last: list[Series]  # the raw last-XID gauge values, fed to XidCounter
    gpu_uuid: dict[str, str]  # UUID -> gpu index, whole GPUs only


def decode(families: Sequence[Family], drop: frozenset[str] = frozenset()) -> Decoded:
    found = _samples_by_family(families, drop)
    throttle: list[Series] = []
    for name in THROTTLE_FAMILIES:
        for labels, value in found.get(name, {}).items():
            if math.isnan(value) or value < 0 or value != int(value):
                continue  # not a bitmask: skip rather than invent reasons
            for reason, active in throttle_reasons(int(value)):
                throttle.append(Series(tuple(sorted((*labels, ("reason", reason)))), active))
    headroom: list[Series] = []
    free, used, reserved = found.get(FB_FREE, {}), found.get(FB_USED, {}), found.get(FB_RESERVED, {})
    for labels, free_mib in free.items():
        if labels not in used:
            continue  # absent is not zero: no ratio without both
        ratio = headroom_ratio(free_mib, used[labels], reserved.get(labels, 0.0))
        if ratio is not None:
            headroom.append(Series(labels, ratio))
    xid_last = [Series(labels, value) for labels, value in found.get(XID_FAMILY, {}).items()]
    return Decoded(throttle, headroom, xid_last, gpu_index_by_uuid(families))


def gpu_index_by_uuid(families: Sequence[Family]) -> dict[str, str]:
    """UUID -> ``gpu`` index from the first family that carries both (MIG series share the UUID)."""
    for family in families:
        if not family.name.startswith(names.DCGM_FIELD_PREFIX) or "UUID=" not in "".join(family.chunks[:1]):
            continue
        mapping = {
            s.labels["UUID"]: s.labels["gpu"]
            for s in family.samples()
            if "UUID" in s.labels and "gpu" in s.labels
        }
        if mapping:
            return mapping
    return {}


class XidCounter:
    """Turns dcgm-exporter's last-XID gauge into counts per XID code.

    The gauge holds the most recent XID code of a GPU (0: none since the exporter started). Each
    change to a non-zero code is one more XID of that code. Two identical XIDs in a row cannot be
    told apart from the gauge alone: it undercounts repeats, never invents events.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[Labels, float] = {}
        self._counts: dict[Labels, int] = {}

    def observe(self, series: Iterable[Series]) -> None:
        with self._lock:
            for item in series:
                code = item.value
                if math.isnan(code) or code != int(code):
                    continue
                previous = self._last.get(item.labels)
                self._last[item.labels] = code
                if code > 0 and code != previous:
                    key = tuple(sorted((*item.labels, ("xid", str(int(code))))))
                    self._counts[key] = self._counts.get(key, 0) + 1

    def counts(self) -> list[Series]:
        with self._lock:
            return [Series(labels, float(count)) for labels, count in sorted(self._counts.items())]
