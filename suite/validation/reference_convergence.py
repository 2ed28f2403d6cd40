"""The reference convergence check: did a submission converge implausibly faster than the
reference runs that calibrated the target?

A closed-division submission must train the reference's model with the reference's method, so
its epochs to the target should look like a sample from the same distribution as the
calibration runs'. MLPerf's RCP check asks exactly that with a one-sided two-sample Student
t-test (alpha 0.05, equal variances): the reference is summarised by the olympic mean and the
(population) standard deviation of its converged points after the olympic trim, the submission
by the olympic mean of its epochs to target, a non-converged run counting as the slowest. The
samples are the runs the olympic mean keeps. The submission's own spread is not used: with the
3 runs of a smoke set only one run is kept, and under the null hypothesis ("it converges like
the reference") its spread is the reference's.

The t statistic is linear in the submission's mean, so the smallest mean the test does not call
faster has a closed form: reference mean - t(1 - alpha, n_ref + n_sub - 2) * std *
sqrt(1/n_ref + 1/n_sub). With MLPerf's published example (reference epochs
[16,14,16,17,16,16,15,16,15,16], 5 submission runs) this gives 15.21 epochs, a 3.53% allowed
speedup, as MLPerf's rules state.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.special import stdtr, stdtrit  # the t distribution, without scipy.stats' import time

from accelbench.judging.scoring import olympic_score

ALPHA = 0.05


@dataclass(frozen=True)
class ConvergenceTest:
    reference_mean: float
    reference_std: float
    reference_n: int
    submission_mean: float
    submission_n: int
    bound: float
    p_value: float

    @property
    def too_fast(self) -> bool:
        return self.submission_mean < self.bound

    def describe(self) -> str:
        return (f"reference mean {self.reference_mean:.4g} epochs (std {self.reference_std:.4g}, "
                f"n={self.reference_n}), submission olympic mean {self.submission_mean:.4g} epochs "
                f"(n={self.submission_n}); the smallest mean a one-sided t-test (alpha {ALPHA}) "
                f"does not call faster is {self.bound:.4g}; p={self.p_value:.3g}")


def _olympic_sample(values: Sequence[float | None]) -> tuple[float, list[float]] | None:
    """The olympic mean of `values` (None is a run that did not converge) and the kept values."""
    outcome = olympic_score(values, minimum_runs=0, max_non_converged=len(values))
    if outcome.value_s is None:
        return None
    return outcome.value_s, [values[i] for i in outcome.kept]  # type: ignore[misc]


def reference_convergence(
    reference_epochs: Sequence[int], submission_epochs: Sequence[int | None]
) -> ConvergenceTest | None:
    """The test of `submission_epochs` (None: not converged) against the calibration's epochs
    to target (negative: not converged); None when either side has too few points to test."""
    reference = _olympic_sample([e for e in reference_epochs if e > 0])
    submission = _olympic_sample(list(submission_epochs))
    if reference is None or submission is None:
        return None
    (reference_mean, kept_reference), (submission_mean, kept_submission) = reference, submission
    n_ref, n_sub = len(kept_reference), len(kept_submission)
    degrees = n_ref + n_sub - 2
    if degrees < 1:
        return None
    std = statistics.pstdev(kept_reference)
    scale = math.sqrt(1 / n_ref + 1 / n_sub)
    bound = reference_mean - float(stdtrit(degrees, 1 - ALPHA)) * std * scale
    if std > 0:  # one-sided two-sample t-test, equal variances: is the reference slower?
        t_statistic = (reference_mean - submission_mean) / (std * scale)
        p_value = float(stdtr(degrees, -t_statistic))
    else:  # no spread at all: any faster mean is significant, none other is
        p_value = 0.0 if submission_mean < reference_mean else 1.0
    return ConvergenceTest(reference_mean, std, n_ref, submission_mean, n_sub, float(bound), p_value)
