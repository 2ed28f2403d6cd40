"""Olympic scoring and the shared target comparison."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from accelbench.errors import UserError
from accelbench.judging.quality import accuracy, compute_metric, firing_rate, mean_squared_error
from accelbench.judging.scoring import olympic_score
from accelbench.judging.verdict import (
    Evaluation,
    judge_run,
    measured_names,
    meets_bounds,
    meets_quality,
    meets_target,
    unmet_bounds,
)
from accelbench.rules.loader import load_rules


def test_olympic_drops_fastest_and_slowest():
    score = olympic_score([10.0, 30.0, 20.0, 25.0, 15.0], minimum_runs=5, max_non_converged=1)
    assert score.valid and score.value_s == pytest.approx(20.0)
    assert score.dropped == (0, 1)
    assert score.kept == (2, 3, 4)


def test_one_non_converged_run_is_dropped_as_slowest():
    score = olympic_score([10.0, None, 20.0, 30.0, 40.0], minimum_runs=5, max_non_converged=1)
    assert score.valid and score.value_s == pytest.approx(30.0)
    assert 1 in score.dropped and score.non_converged == 1


def test_two_non_converged_runs_invalidate_the_score():
    score = olympic_score([10.0, None, 20.0, None, 40.0], minimum_runs=5, max_non_converged=1)
    assert not score.valid and score.value_s is None
    assert "2 of 5 runs did not converge" in score.reason


def test_too_few_runs_report_the_mean_but_are_not_valid():
    score = olympic_score([12.0], minimum_runs=3, max_non_converged=1)
    assert score.value_s == 12.0 and not score.valid
    assert "require 3" in score.reason


def test_no_runs():
    assert not olympic_score([], 3, 1).valid


@given(st.lists(st.floats(min_value=0.1, max_value=1e5), min_size=3, max_size=40))
def test_olympic_mean_lies_between_extremes(times):
    score = olympic_score(times, minimum_runs=3, max_non_converged=1)
    assert score.valid
    assert min(times) - 1e-6 <= score.value_s <= max(times) + 1e-6
    assert len(score.kept) == len(times) - 2


@pytest.mark.parametrize(
    "value, target, direction, expected",
    [
        (0.1, 0.1, "at_most", True),
        (0.1000001, 0.1, "at_most", False),
        (0.9, 0.9, "at_least", True),
        (0.89, 0.9, "at_least", False),
        (None, 0.1, "at_most", False),
        (math.nan, 0.1, "at_most", False),
        (math.inf, 0.1, "at_least", False),
        (-math.inf, 0.1, "at_most", False),
    ],
)
def test_meets_target(value, target, direction, expected):
    assert meets_target(value, target, direction) is expected


def test_mse_matches_torch_and_checks_shapes():
    predictions, targets = torch.randn(64, 15), torch.rand(64, 15) * 2 - 1
    expected = torch.nn.functional.mse_loss(predictions.double(), targets.double()).item()
    assert mean_squared_error(predictions.numpy(), targets.numpy()) == pytest.approx(expected, rel=1e-12)
    assert compute_metric("mse", np.zeros((4, 15), np.float32), np.ones((4, 15), np.float32)) == 1.0
    with pytest.raises(ValueError):
        mean_squared_error(np.zeros((4, 15)), np.zeros((5, 15)))
    with pytest.raises(UserError, match="unknown quality metric"):
        compute_metric("accuracy@5", predictions.numpy(), targets.numpy())


def test_accuracy_takes_the_highest_class_score():
    scores = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.5], [0.0, 0.0, 3.0], [1.0, 1.0, 0.0]])
    labels = np.array([1, 0, 1, 1])
    assert accuracy(scores, labels) == 0.5  # a tie goes to the lowest class
    assert compute_metric("accuracy", {"logits": scores, "firing_rate.hidden_1": np.zeros(4)}, labels) == 0.5
    with pytest.raises(ValueError):
        accuracy(scores, labels[:3])
    with pytest.raises(ValueError, match="logits"):
        accuracy({"scores": scores}, labels)


def test_firing_rate_weights_layers_equally_and_any_output_has_a_mean():
    predictions = {
        "logits": np.zeros((4, 3)),
        "firing_rate.hidden_1": np.array([0.1, 0.1, 0.3, 0.3], np.float32),
        "firing_rate.hidden_2": np.array([0.0, 0.0, 0.0, 0.2], np.float32),
    }
    labels = np.zeros(4, dtype=np.int64)
    assert compute_metric("firing_rate", predictions, labels) == pytest.approx((0.2 + 0.05) / 2)
    assert compute_metric("firing_rate.hidden_2", predictions, labels) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="firing_rate"):
        firing_rate({"logits": np.zeros((4, 3))}, labels)
    with pytest.raises(UserError, match="unknown quality metric 'firing_rate.hidden_3'"):
        compute_metric("firing_rate.hidden_3", predictions, labels)


def test_bounds_name_what_they_break():
    rules = load_rules("snn_bptt_sparse").quality
    low, high = (bound.value["small"] for bound in rules.bounds)
    inside = {"firing_rate": (low + high) / 2}
    assert meets_bounds(rules, "small", inside) and unmet_bounds(rules, "small", inside) == []
    assert not meets_bounds(rules, "small", {"firing_rate": high * 2})
    assert unmet_bounds(rules, "small", {"firing_rate": high * 2}) == [f"firing_rate {high * 2:.4g} is not at most {high:g}"]
    assert unmet_bounds(rules, "small", {}) == [
        f"firing_rate missing is not at least {low:g}", f"firing_rate missing is not at most {high:g}"
    ]
    assert measured_names(rules) == ["firing_rate", "firing_rate.hidden_1", "firing_rate.hidden_2"]


SPARSE = load_rules("snn_bptt_sparse").quality


def _eval(value, rate):
    return Evaluation(value, {"firing_rate": rate})


@pytest.mark.parametrize(
    "mode, eval_kind, last, final, expected",
    [
        ("to_target", "true", _eval(0.8, 0.01), _eval(0.8, 0.01), True),
        ("to_target", "true", _eval(0.8, 0.05), _eval(0.8, 0.05), False),  # a bound broken
        ("to_target", "true", _eval(0.7, 0.01), _eval(0.7, 0.01), False),  # below the target
        ("to_target", "true", None, _eval(None, None), False),  # no eval at all
        ("to_target", "pseudo", _eval(0.8, 0.01), _eval(0.7, 0.01), False),  # the true eval misses
        ("to_target", "pseudo", _eval(0.8, 0.01), _eval(0.9, 0.01), True),
        ("to_target", "pseudo", _eval(0.7, 0.01), _eval(0.9, 0.01), False),  # the run never stopped at it
        ("fixed_epochs", "true", _eval(0.7, 0.01), _eval(0.8, 0.01), True),  # judged on the end quality
        ("fixed_epochs", "pseudo", _eval(0.8, 0.01), _eval(0.7, 0.01), False),
    ],
)
def test_judge_run_is_the_one_convergence_verdict(mode, eval_kind, last, final, expected):
    assert judge_run(SPARSE, "smoke", 0.75, mode, eval_kind, last, final) is expected
    if last is not None:
        assert meets_quality(SPARSE, "smoke", 0.75, last) is (0.75 <= last.value and 0.005 <= last.measurements["firing_rate"] <= 0.015)

