"""`accelbench compare BASE NEW`: did a change make a set slower (or worse), beyond the noise?

Per set and metric: the ratio of the medians NEW / BASE, a bootstrap 95% interval of that ratio
over the runs, and a Mann-Whitney U rank test. As asv decides significance, the rank test decides
when the samples are large enough for its smallest possible p to be below alpha; otherwise (three
runs a side cannot reach p < 0.05 two-sided) the interval must exclude 1. A change is a
regression when it is significant, in the metric's worse direction, and beyond the factor
(default 1.10: 10 % slower, or 10 % less throughput).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from accelbench.errors import UserError
from accelbench.history.queries import SetKey, Values

FACTOR = 1.10
ALPHA = 0.05
CONFIDENCE = 0.95
RESAMPLES = 4000
Verdict = Literal["regression", "improvement", "unchanged", "not significant", "reported", "too few runs"]


@dataclass(frozen=True)
class MetricComparison:
    key: SetKey
    metric: str
    higher_is_better: bool | None
    base: tuple[float, ...]
    new: tuple[float, ...]
    ratio: float  # median(new) / median(base)
    low: float | None  # the bootstrap interval of the ratio
    high: float | None
    p_value: float | None  # Mann-Whitney U, two-sided
    significant: bool
    verdict: Verdict


def smallest_p(base: int, new: int) -> float:
    """The smallest two-sided p an exact Mann-Whitney U test can give for these sample sizes."""
    return min(1.0, 2.0 / math.comb(base + new, base))


def ratio_interval(base: np.ndarray, new: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of median(new) / median(base), each side resampled apart."""
    rng = np.random.default_rng(seed)
    base_medians = np.median(rng.choice(base, size=(RESAMPLES, base.size)), axis=1)
    new_medians = np.median(rng.choice(new, size=(RESAMPLES, new.size)), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = new_medians / base_medians
    tail = (1.0 - CONFIDENCE) / 2.0 * 100.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return float(low), float(high)


def compare_metric(key: SetKey, metric: str, base: Values, new: Values,
                   factor: float = FACTOR, alpha: float = ALPHA) -> MetricComparison:
    higher = base.higher_is_better if base.higher_is_better is not None else new.higher_is_better
    base_values, new_values = np.asarray(base.values, float), np.asarray(new.values, float)
    base_median, new_median = statistics.median(base.values), statistics.median(new.values)
    ratio = new_median / base_median if base_median else math.inf
    if min(base_values.size, new_values.size) < 2:
        return MetricComparison(key, metric, higher, tuple(base.values), tuple(new.values), ratio, None, None,
                                None, False, "reported" if higher is None else "too few runs")
    low, high = ratio_interval(base_values, new_values)
    p_value = float(stats.mannwhitneyu(new_values, base_values, alternative="two-sided").pvalue)
    if smallest_p(base_values.size, new_values.size) < alpha:
        significant = p_value < alpha
    else:
        significant = low > 1.0 or high < 1.0
    if higher is None:
        verdict: Verdict = "reported"
    elif not significant:
        verdict = "not significant"
    else:
        worse = ratio < 1.0 / factor if higher else ratio > factor
        better = ratio > factor if higher else ratio < 1.0 / factor
        verdict = "regression" if worse else "improvement" if better else "unchanged"
    return MetricComparison(key, metric, higher, tuple(base.values), tuple(new.values), ratio, low, high,
                            p_value, significant, verdict)


def _describe(keys) -> str:
    return ", ".join(sorted(str(key) for key in keys)) or "nothing"


def compare_sets(
    base: Mapping[SetKey, Mapping[str, Values]], new: Mapping[SetKey, Mapping[str, Values]],
    factor: float = FACTOR, alpha: float = ALPHA,
) -> list[MetricComparison]:
    """Every metric the two sides share, set by set; one line if they are not the same sets."""
    if set(base) != set(new):
        raise UserError(f"BASE holds {_describe(set(base) - set(new))} and NEW holds {_describe(set(new) - set(base))}"
                        ": compare result sets of the same systems, workloads, scales and divisions")
    if factor < 1.0 or not 0.0 < alpha < 1.0:
        raise UserError(f"--factor {factor} must be at least 1 and --alpha {alpha} between 0 and 1")
    found = []
    for key in sorted(base, key=str):
        for metric in sorted(set(base[key]) & set(new[key])):
            found.append(compare_metric(key, metric, base[key][metric], new[key][metric], factor, alpha))
    return found


def regressions(comparisons: list[MetricComparison]) -> list[MetricComparison]:
    return [c for c in comparisons if c.verdict == "regression"]
