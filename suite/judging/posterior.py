"""A sampler's verdict numbers, from its draws alone: the convergence diagnostics over the
diagnosed summaries (ArviZ's rank-normalised split R-hat, bulk and tail ESS, from arviz-stats'
array interface, framework-free) and the held-out posterior predictive log-likelihood. The
harness computes them after each block of draws; the validator recomputes them from the draws
file with these same functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from accelbench.errors import UserError

SAMPLING_EXTRA = "pip install 'accelbench[sampling]' (arviz-stats, arviz-base, h5netcdf)"


@dataclass(frozen=True)
class Diagnostics:
    """The worst value over every summary: the largest R-hat, the smallest ESS."""

    rhat: float | None
    ess_bulk: float | None
    ess_tail: float | None

    def as_measurements(self) -> dict[str, float | None]:
        return {"rhat": self.rhat, "ess_bulk": self.ess_bulk, "ess_tail": self.ess_tail}


def _worst(values: np.ndarray, largest: bool) -> float | None:
    """max or min over summaries; None when any is not finite (too few draws, a stuck chain)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        return None
    return float(values.max() if largest else values.min())


def diagnose(summaries: np.ndarray, tail_probability: float) -> Diagnostics:
    """Diagnostics of `summaries` (chains, draws, k): every one of the k quantities, each over
    all chains and draws."""
    if summaries.ndim != 3 or summaries.shape[0] < 2 or summaries.shape[1] < 4:
        return Diagnostics(None, None, None)
    try:
        from arviz_stats.base import array_stats
    except ImportError as err:
        raise UserError(f"sampling diagnostics need ArviZ, which is not importable here ({err}): {SAMPLING_EXTRA}") \
            from None
    values = np.asarray(summaries, dtype=np.float64)
    rhat = array_stats.rhat(values, chain_axis=0, draw_axis=1, method="rank")
    bulk = array_stats.ess(values, chain_axis=0, draw_axis=1, method="bulk")
    tail = array_stats.ess(values, chain_axis=0, draw_axis=1, method="tail", prob=tail_probability)
    return Diagnostics(_worst(rhat, largest=True), _worst(bulk, largest=False), _worst(tail, largest=False))


def student_t_log_density(value: np.ndarray, loc: np.ndarray, scale: float, df: float) -> np.ndarray:
    """log StudentT(df, loc, scale).pdf(value), elementwise, in float64."""
    z = (np.asarray(value, dtype=np.float64) - loc) / scale
    return (special.gammaln((df + 1) / 2) - special.gammaln(df / 2) - 0.5 * math.log(df * math.pi)
            - math.log(scale) - (df + 1) / 2 * np.log1p(z * z / df))


def predictive_log_likelihood(predictions: np.ndarray, targets: np.ndarray, df: float, scale: float) -> float | None:
    """Mean over rows of log (1/S) sum_s StudentT(df, prediction_s, scale).pdf(target): the
    log pointwise predictive density of held-out rows under the posterior's S draws, per row.
    `predictions` (..., rows), every leading axis a draw; None if it is not finite."""
    flat = np.asarray(predictions, dtype=np.float64).reshape(-1, predictions.shape[-1])
    density = student_t_log_density(np.asarray(targets).ravel()[None, :], flat, scale, df)
    value = float(np.mean(special.logsumexp(density, axis=0) - math.log(len(flat))))
    return value if math.isfinite(value) else None
