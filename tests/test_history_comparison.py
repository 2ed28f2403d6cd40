"""compare: the ratio, its bootstrap interval and the rank test decide a regression, in the metric's
own direction, beyond the factor; sets that do not match are refused in one line."""

import pytest

from accelbench.errors import UserError
from accelbench.history.comparison import compare_metric, compare_sets, ratio_interval, regressions, smallest_p
from accelbench.history.queries import SetKey, Values

KEY = SetKey("cpu", "neuron_inverter", "smoke", "closed")


def test_three_runs_a_side_that_do_not_overlap_are_a_regression_by_the_interval():
    result = compare_metric(KEY, "samples_per_s", Values(True, [790.0, 800.0, 810.0]), Values(True, [400.0, 410.0, 420.0]))
    assert smallest_p(3, 3) == pytest.approx(0.1)  # the rank test cannot decide at 0.05 ...
    assert result.low < result.ratio < result.high < 1.0  # ... so the interval does
    assert (result.significant, result.verdict) == (True, "regression")
    assert result.ratio == pytest.approx(410.0 / 800.0)


def test_a_slower_time_is_a_regression_and_a_faster_one_an_improvement():
    base = Values(False, [10.0, 10.2, 10.4, 10.1, 10.3, 9.9, 10.0, 10.2])
    slower = compare_metric(KEY, "time_to_train_s", base, Values(False, [12.0, 12.2, 12.5, 12.1, 12.3, 11.9, 12.0, 12.4]))
    faster = compare_metric(KEY, "time_to_train_s", base, Values(False, [8.0, 8.2, 8.1, 7.9, 8.3, 8.0, 8.2, 8.1]))
    assert slower.p_value < 0.01 and slower.verdict == "regression"  # eight a side: the rank test decides
    assert faster.verdict == "improvement"


def test_overlapping_runs_are_not_significant_and_a_small_change_is_unchanged():
    overlapping = compare_metric(KEY, "samples_per_s", Values(True, [700.0, 800.0, 900.0]), Values(True, [650.0, 780.0, 890.0]))
    assert overlapping.verdict == "not significant"
    small = compare_metric(KEY, "samples_per_s", Values(True, [100.0, 100.5, 101.0] * 4),
                           Values(True, [96.0, 96.5, 97.0] * 4))
    assert small.significant and small.verdict == "unchanged"  # 4 % worse, under the 10 % factor


def test_a_metric_with_no_direction_is_reported_and_a_single_run_is_too_few():
    assert compare_metric(KEY, "epochs", Values(None, [6.0, 7.0]), Values(None, [9.0, 9.0])).verdict == "reported"
    assert compare_metric(KEY, "samples_per_s", Values(True, [1.0]), Values(True, [0.1])).verdict == "too few runs"


def test_the_interval_is_reproducible_and_contains_the_ratio():
    import numpy as np

    base, new = np.array([1.0, 1.1, 0.9, 1.05]), np.array([2.0, 2.2, 1.9, 2.1])
    assert ratio_interval(base, new) == ratio_interval(base, new)
    low, high = ratio_interval(base, new)
    assert low <= np.median(new) / np.median(base) <= high


def test_sets_of_different_workloads_or_scales_are_refused():
    other = SetKey("cpu", "neuron_inverter", "small", "closed")
    with pytest.raises(UserError, match="BASE holds cpu/neuron_inverter/smoke .* NEW holds cpu/neuron_inverter/small"):
        compare_sets({KEY: {}}, {other: {}})


def test_compare_sets_compares_the_shared_metrics_and_lists_the_regressions():
    base = {KEY: {"samples_per_s": Values(True, [800.0, 810.0, 790.0]), "quality": Values(False, [0.27, 0.26, 0.27])}}
    new = {KEY: {"samples_per_s": Values(True, [400.0, 410.0, 390.0]), "epochs": Values(None, [4.0, 4.0, 4.0])}}
    found = compare_sets(base, new)
    assert [c.metric for c in found] == ["samples_per_s"]
    assert [c.metric for c in regressions(found)] == ["samples_per_s"]
    with pytest.raises(UserError, match="--factor 0.9"):
        compare_sets(base, new, factor=0.9)
