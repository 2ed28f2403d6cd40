"""asv-style step detection: a clear step is found at the commit that made it, noise is not a step."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelbench.history.steps import detect_steps, partition


@given(level=st.floats(0.01, 1e6), points=st.integers(1, 60))
def test_a_constant_history_has_no_step(level, points):
    assert detect_steps([level] * points) == []


@settings(deadline=None)
@given(before=st.integers(4, 40), after=st.integers(4, 40), ratio=st.sampled_from([0.5, 0.8, 1.25, 2.0]),
       seed=st.integers(0, 2**16))
def test_one_clear_step_is_found_where_it_happened(before, after, ratio, seed):
    rng = np.random.default_rng(seed)
    levels = np.concatenate([10.0 * np.ones(before), 10.0 * ratio * np.ones(after)])
    levels *= np.exp(0.01 * rng.standard_normal(levels.size))  # 1 % noise against a 20 % step or more
    steps = detect_steps(levels)
    assert [s.index for s in steps] == [before]
    assert steps[0].ratio == pytest.approx(ratio, rel=0.03)


def test_noise_alone_makes_no_step():
    rng = np.random.default_rng(7)
    assert detect_steps(100.0 * np.exp(0.05 * rng.standard_normal(80))) == []


def test_two_steps_and_their_direction():
    history = [10.0] * 8 + [13.0] * 8 + [10.5] * 8
    steps = detect_steps(history)
    assert [s.index for s in steps] == [8, 16]
    assert [s.worse(higher_is_better=False) for s in steps] == [True, False]
    assert steps[0].worse(higher_is_better=None) is None


def test_steps_below_the_reporting_threshold_are_left_out():
    assert [s.index for s in detect_steps([10.0] * 10 + [10.3] * 10, min_change=0.05)] == []
    assert [s.index for s in detect_steps([10.0] * 10 + [10.3] * 10, min_change=0.01)] == [10]


def test_values_that_are_not_all_positive_are_fitted_as_they_are():
    steps = detect_steps([-1.2] * 6 + [-1.5] * 6)
    assert [s.index for s in steps] == [6] and steps[0].worse(higher_is_better=True) is True


def test_the_partition_is_the_least_squares_optimum_with_its_penalty():
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    assert partition(y, penalty=0.1) == [3]
    assert partition(y, penalty=10.0) == []  # one piece costs 1.5, less than a second piece's penalty
