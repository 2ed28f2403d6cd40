"""Where a history changed level: asv-style step detection over the points' medians.

As airspeed velocity does, the history is fitted with a piecewise-constant function that trades
the fit against the number of pieces (a Potts model with a BIC-style penalty), solved exactly by
dynamic programming; each boundary between pieces is a step, named by the first point (commit)
of the new level. Here the fit is least squares on log values (so a step is a ratio, whatever the
metric's size) over per-commit medians (which already keep one odd run from making a step); asv
fits absolute deviations weighted by each point's confidence interval. The noise the penalty is
scaled by is estimated robustly from the point-to-point differences, which a few steps do not move.
A boundary whose change is under `min_change` is merged into its neighbours, so noise the fit
took for a level does not bend the levels of the steps that are reported.
"""

from __future__ import annotations

import math
from itertools import pairwise
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_CHANGE = 0.05  # a change under 5 % is no step, however clear
NOISE_FLOOR = 1e-3  # of the level: a history that repeats exactly still has timer noise


@dataclass(frozen=True)
class Step:
    index: int  # the first point at the new level
    before: float
    after: float

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else math.inf

    def worse(self, higher_is_better: bool | None) -> bool | None:
        """Whether the step made the metric worse (None: the metric has no better direction)."""
        if higher_is_better is None:
            return None
        return self.after < self.before if higher_is_better else self.after > self.before


def _segment_costs(prefix: np.ndarray, prefix_sq: np.ndarray, end: int) -> np.ndarray:
    """The squared error of fitting y[start:end] with its mean, for every start < end."""
    starts = np.arange(end)
    count = end - starts
    total = prefix[end] - prefix[starts]
    return prefix_sq[end] - prefix_sq[starts] - total * total / count


def noise(y: np.ndarray, floor: float) -> float:
    """One point's noise, from the median absolute point-to-point difference (for Gaussian noise,
    that median is 0.6745 * sqrt(2) standard deviations)."""
    if y.size < 3:
        return floor
    return max(float(np.median(np.abs(np.diff(y)))) / (0.6745 * math.sqrt(2.0)), floor)


def partition(y: np.ndarray, penalty: float) -> list[int]:
    """The boundaries (first index of each piece after the first) of the best piecewise-constant fit."""
    n = y.size
    prefix = np.concatenate([[0.0], np.cumsum(y)])
    prefix_sq = np.concatenate([[0.0], np.cumsum(y * y)])
    best = np.empty(n + 1)
    best[0] = -penalty
    previous = np.zeros(n + 1, dtype=int)
    for end in range(1, n + 1):
        totals = best[:end] + _segment_costs(prefix, prefix_sq, end) + penalty
        previous[end] = int(np.argmin(totals))
        best[end] = totals[previous[end]]
    boundaries = []
    end = n
    while end > 0:
        start = previous[end]
        if start > 0:
            boundaries.append(int(start))
        end = start
    return sorted(boundaries)


def detect_steps(levels: Sequence[float], min_change: float = MIN_CHANGE) -> list[Step]:
    """The steps in a history of levels (one per commit or date), oldest first."""
    values = np.asarray(levels, dtype=float)
    if values.size < 2:
        return []
    in_log = bool(np.all(values > 0))  # else (a log-likelihood, say) fit the values themselves
    y = np.log(values) if in_log else values
    penalty_sigma = noise(y, floor=NOISE_FLOOR * (1.0 if in_log else max(float(np.median(np.abs(y))), 1.0)))
    penalty = 2.0 * penalty_sigma**2 * math.log(max(values.size, 3))
    boundaries = partition(y, penalty)
    level = math.exp if in_log else float
    while True:  # a boundary below min_change is merged away, so it does not bend its neighbours' levels
        edges = [0, *boundaries, values.size]
        pieces = [level(float(np.mean(y[a:b]))) for a, b in pairwise(edges)]
        changes = [abs(after - before) / abs(before) if before else math.inf
                   for before, after in pairwise(pieces)]
        if not changes or min(changes) >= min_change:
            return [Step(boundary, before, after) for boundary, before, after in zip(boundaries, pieces, pieces[1:])]
        del boundaries[changes.index(min(changes))]
