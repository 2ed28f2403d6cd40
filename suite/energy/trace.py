"""A power trace small enough for a result file, that still adds up to the same energy.

The trace is a step function: each point is the mean power over the stretch of time that ends
at it. Merging neighbouring stretches into their time-weighted mean keeps the energy exact,
which averaging points (or dropping them) would not when the sampling was uneven.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_TRACE_POINTS = 600  # a point every 6 s of a one-hour run: enough for a power profile


@dataclass(frozen=True)
class Stretch:
    end_s: float
    width_s: float  # > 0
    mean_w: float


def compact(stretches: Sequence[Stretch], max_points: int = MAX_TRACE_POINTS) -> list[tuple[float, float]]:
    """At most `max_points` (end s, mean W) points: runs of equally many neighbouring stretches,
    each replaced by its time-weighted mean, so that sum(mean * width) is unchanged."""
    if max_points < 1:
        raise ValueError(f"a trace needs at least one point, not {max_points}")
    group = max(1, math.ceil(len(stretches) / max_points))
    points = []
    for first in range(0, len(stretches), group):
        run = stretches[first:first + group]
        width = sum(s.width_s for s in run)
        points.append((run[-1].end_s, sum(s.mean_w * s.width_s for s in run) / width))
    return points


def trace_energy_j(points: Sequence[tuple[float, float]]) -> float:
    """The energy a compacted trace stands for (each point's power over the time since the last)."""
    energy, previous_end = 0.0, 0.0
    for end_s, mean_w in points:
        energy += mean_w * (end_s - previous_end)
        previous_end = end_s
    return energy
