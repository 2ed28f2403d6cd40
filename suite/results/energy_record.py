"""The result's energy record, from what every process of a run measured over the timed region.

Each process reads its own devices (`accelbench.energy.selection`); here rank 0 sums them once
per device. A process that had no meter by design (the other ranks of a host whose RAPL package
rank 0 reads) adds nothing; one that should have measured and could not makes the record
unavailable, with the reason, rather than a sum that silently misses a device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from accelbench.energy.combine import sum_once_per_device
from accelbench.energy.measurement import EnergyMeasurement
from accelbench.energy.meter import Unavailable
from accelbench.energy.selection import RAPL_ON_RANK_0
from accelbench.results.models import Energy


@dataclass(frozen=True)
class RankEnergy:
    """What one process contributes: its host (hashed) and its measurement, or why none."""

    host: str
    measured: EnergyMeasurement | Unavailable


def energy_record(ranks: Sequence[RankEnergy]) -> Energy:
    """The Energy of a run, from every rank's contribution in rank order."""
    measured = [(r.host, r.measured) for r in ranks if isinstance(r.measured, EnergyMeasurement)]
    missing = [r.measured.reason for r in ranks
               if isinstance(r.measured, Unavailable) and r.measured.reason != RAPL_ON_RANK_0]
    if not measured:
        reason = missing[0] if missing else "no process of this run had a power meter"
        return Energy(available=False, reason=reason)
    combined = sum_once_per_device(measured)
    problems = list(combined.failures) + [f"a process measured nothing: {why}" for why in missing]
    meters = sorted({m.meter for _, m in measured})
    methods = {m.method for _, m in measured}
    if problems or combined.joules is None:
        return Energy(available=False, meter=", ".join(meters), per_device_j=combined.per_device_j,
                      reason="incomplete, so not reported: " + "; ".join(problems or ["too few readings"]))
    first = measured[0][1]
    trace = _summed_trace([m.trace for _, m in measured])
    notes = sorted({note for _, m in measured for note in m.notes})
    return Energy(
        available=True,
        joules=combined.joules,
        meter=", ".join(meters),
        reason="; ".join(notes) or None,
        method=methods.pop() if len(methods) == 1 else "mixed",
        per_device_j=combined.per_device_j,
        average_w=combined.joules / first.duration_s if first.duration_s > 0 else None,
        peak_w=first.peak_w if len(measured) == 1 else max((w for _, w in trace), default=None),
        duration_s=first.duration_s,
        sampling_hz=min((m.achieved_hz for _, m in measured if m.achieved_hz is not None), default=None),
        samples=min(m.samples for _, m in measured),
        trace=trace,
    )


def _summed_trace(traces: Sequence[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """The processes' power traces added on the first one's time points (each is interpolated
    there; the ranks started their clocks at the same barrier, within milliseconds)."""
    first = traces[0]
    if not first:
        return []
    times = np.array([t for t, _ in first])
    total = np.zeros_like(times)
    for trace in traces:
        if trace:
            total += np.interp(times, [t for t, _ in trace], [w for _, w in trace])
    return [(float(t), float(w)) for t, w in zip(times, total)]
