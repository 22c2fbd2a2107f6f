"""Decode what dcgm-exporter publishes in forms people otherwise stare at (pure functions).

- the clock throttle bitmask -> one 0/1 series per reason,
- the last XID code -> a counter per XID (``XidCounter`` keeps state between scrapes),
- framebuffer free/used/reserved (MiB) -> a memory-headroom ratio,
- GPU index <-> UUID, so Triton's ``gpu_uuid`` can be joined to dcgm-exporter's ``gpu``.

Every other label of the upstream series (MIG ``GPU_I_*``, Kubernetes pod labels, ``exported_*``
under kube-prometheus) is kept unless configured as dropped.

A value that cannot be what the field means (``+Inf``, ``NaN``, negative, fractional, a mask over
64 bits) costs only the series derived from it: it is skipped and counted in ``Decoded.bad_values``
(the exporter adds it to ``triton_slo_parse_errors_total{upstream="dcgm"}``), never an exception.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triton_slo import names
from triton_slo.exporters.textparse import Family, parse_sample_line

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
_MASK_END = float(1 << 64)  # NVML's reasons are an unsigned long long
_MAX_XID = 1 << 31  # XID codes are small positive integers; anything past this is not one

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
    if any(not math.isfinite(v) or v < 0 for v in values):
        return None
    total = free + used + reserved
    return free / total if total > 0 else None


def _keep(labels: dict[str, str], drop: frozenset[str]) -> Labels:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))


def _check(deadline: float | None, done: int) -> None:
    if deadline is not None and not done & 1023 and time.monotonic() > deadline:
        raise TimeoutError(f"decoding past the deadline ({done} series decoded)")


def _samples_by_family(families: Iterable[Family], drop: frozenset[str],
                       deadline: float | None = None) -> dict[str, dict[Labels, float]]:
    found: dict[str, dict[Labels, float]] = {}
    done = 0
    for family in families:
        if family.name in DECODED_FAMILIES:
            series = found.setdefault(family.name, {})
            for line in family.lines:  # one line at a time: the deadline is checked as it goes
                done += 1
                _check(deadline, done)
                sample = parse_sample_line(line)
                if sample.name == family.name:
                    series[_keep(sample.labels, drop)] = sample.value
    return found


def is_mask(value: float) -> bool:
    """A throttle-reasons value that is a bitmask: a finite whole number in 0 .. 2**64-1."""
    return math.isfinite(value) and 0 <= value < _MASK_END and value == int(value)


def is_xid(value: float) -> bool:
    """A last-XID value that is an XID code (0: none yet): a finite whole number in 0 .. 2**31."""
    return math.isfinite(value) and 0 <= value <= _MAX_XID and value == int(value)


@dataclass
class Decoded:
    throttle: list[Series]  # labels include `reason`
    headroom: list[Series]
    xid_last: list[Series]  # the raw last-XID gauge values, fed to XidCounter (valid codes only)
    gpu_uuid: dict[str, str]  # UUID -> gpu index, whole GPUs only
    bad_values: int = 0  # values skipped because they cannot mean what the field means


def decode(families: Sequence[Family], drop: frozenset[str] = frozenset(),
           deadline: float | None = None) -> Decoded:
    """The decoded series; past ``deadline`` (time.monotonic()) TimeoutError."""
    found = _samples_by_family(families, drop, deadline)
    bad = 0
    done = 0
    throttle: list[Series] = []
    for name in THROTTLE_FAMILIES:
        for labels, value in found.get(name, {}).items():
            done += 1
            _check(deadline, done)
            if not is_mask(value):
                bad += 1
                continue  # not a bitmask: skip rather than invent reasons
            # `reason` goes where sorting would put it: found once per mask, not sorted per reason
            at = next((i for i, (key, _) in enumerate(labels) if key >= "reason"), len(labels))
            head, tail = labels[:at], labels[at:]
            for reason, active in throttle_reasons(int(value)):
                throttle.append(Series((*head, ("reason", reason), *tail), active))
    headroom: list[Series] = []
    free, used, reserved = found.get(FB_FREE, {}), found.get(FB_USED, {}), found.get(FB_RESERVED, {})
    for labels, free_mib in free.items():
        done += 1
        _check(deadline, done)
        if labels not in used:
            continue  # absent is not zero: no ratio without both
        ratio = headroom_ratio(free_mib, used[labels], reserved.get(labels, 0.0))
        if ratio is not None:
            headroom.append(Series(labels, ratio))
        elif not all(math.isfinite(v) and v >= 0 for v in (free_mib, used[labels], reserved.get(labels, 0.0))):
            bad += 1
    xid_last = []
    for labels, value in found.get(XID_FAMILY, {}).items():
        if is_xid(value):
            xid_last.append(Series(labels, value))
        else:
            bad += 1
    return Decoded(throttle, headroom, xid_last, gpu_index_by_uuid(families, deadline), bad)


def gpu_index_by_uuid(families: Sequence[Family], deadline: float | None = None) -> dict[str, str]:
    """UUID -> ``gpu`` index from the first family that carries both (MIG series share the UUID)."""
    for family in families:
        if not family.name.startswith(names.DCGM_FIELD_PREFIX) or "UUID=" not in "".join(family.chunks[:1]):
            continue
        mapping = {}
        for done, line in enumerate(family.lines, 1):
            _check(deadline, done)
            sample = parse_sample_line(line)
            if "UUID" in sample.labels and "gpu" in sample.labels:
                mapping[sample.labels["UUID"]] = sample.labels["gpu"]
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
                if not is_xid(code):
                    continue
                previous = self._last.get(item.labels)
                self._last[item.labels] = code
                if code > 0 and code != previous:
                    key = tuple(sorted((*item.labels, ("xid", str(int(code))))))
                    self._counts[key] = self._counts.get(key, 0) + 1

    def counts(self) -> list[Series]:
        with self._lock:
            return [Series(labels, float(count)) for labels, count in sorted(self._counts.items())]
