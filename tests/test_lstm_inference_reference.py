"""lstm_inference's own parts: the factor-model generator, the weight recipe and its hash, the
model, and the claim the workload rests on: the served model beats the naive predictor."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from accelbench.data import datasets
from accelbench.data.model_weights import load_weights, weights_path, weights_sha256
from accelbench.errors import UserError
from accelbench.judging.quality import r2
from accelbench.reference.lstm_inference import data, weights
from accelbench.reference.lstm_inference.model import LSTMRegressor, model_from_weights, weights_of
from accelbench.rules.loader import load_rules

RULES = load_rules("lstm_inference")
PARAMETERS = RULES.dataset.parameters_for("smoke")
MARGIN = 0.5  # the served model's R^2 above the naive predictor's, on the smoke val split


@pytest.fixture(scope="module")
def smoke_data() -> Path:
    """The smoke dataset and weights, generated once into the session's data cache if absent."""
    directory = datasets.data_directory(RULES, "smoke", Path(os.environ["ACCELBENCH_DATA_DIR"])
                                        if "ACCELBENCH_DATA_DIR" in os.environ else None)
    if not datasets.is_generated(directory):
        datasets.generate(RULES, "smoke", directory)
    return directory


def test_the_generator_is_seeded_per_split_and_block():
    model = data.factor_model(3, **PARAMETERS)
    first, targets = model.simulate(64, data._generator(3, "val", 0))
    again, _ = data.factor_model(3, **PARAMETERS).simulate(64, data._generator(3, "val", 0))
    other, _ = model.simulate(64, data._generator(3, "val", 1))
    assert first.shape == (64, 200, 16) and targets.shape == (64, 1) and first.dtype == np.float32
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_returns_have_unit_variance_and_the_target_is_predictable():
    """The scale c_i makes every return unit-variance; the target is partly predicted by the
    last returns (the factors persist), which is what the model learns."""
    windows, targets = data.factor_model(5, **PARAMETERS).simulate(4096, data._generator(5, "train", 0))
    assert np.std(windows) == pytest.approx(1.0, abs=0.05)
    assert np.std(targets) == pytest.approx(1.0, abs=0.05)
    last = windows[:, -1, :].astype(np.float64)
    fit, *_ = np.linalg.lstsq(np.c_[last, np.ones(len(last))], targets[:, 0], rcond=None)
    linear = np.c_[last, np.ones(len(last))] @ fit
    assert r2(linear[:, None], targets) > 0.2  # a linear look at one step already explains a fifth


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(PARAMETERS)), value=st.one_of(st.just(-1), st.just(1.5), st.just("x"),
                                                                  st.just(True), st.just(float("nan"))))
def test_bad_parameters_are_one_line(name, value):
    """-1, a string, a bool and NaN fit no parameter; 1.5 fits only the two that are any number >= 0."""
    admitted = value == 1.5 and not isinstance(value, bool) and name in ("volatility_of_volatility", "idiosyncratic")
    if admitted:
        data.factor_model(1, **{**PARAMETERS, name: value})
        return
    with pytest.raises(UserError, match=name) as err:
        data.factor_model(1, **{**PARAMETERS, name: value})
    assert "\n" not in str(err.value)


def test_the_weight_recipe_is_deterministic_and_learns():
    windows, targets = data.factor_model(9, **PARAMETERS).simulate(256, data._generator(9, "train", 0))
    recipe = {"seed": 4, "epochs": 1, "batch_size": 64, "learning_rate": 0.002, "train_window": 20}
    first = weights.train(windows, targets, **recipe)
    again = weights.train(windows, targets, **recipe)
    assert weights_sha256(first) == weights_sha256(again)
    assert sorted(first) == sorted(weights_of(LSTMRegressor()))
    assert weights_sha256(first) != weights_sha256(weights_of(LSTMRegressor()))


def test_the_model_is_the_seeds_shape():
    model = LSTMRegressor()
    assert (model.lstm.input_size, model.lstm.hidden_size, model.lstm.num_layers) == (16, 256, 2)
    assert model(torch.zeros(3, 200, 16)).shape == (3, 1)
    with pytest.raises(RuntimeError):
        model_from_weights({"head.bias": np.zeros(1, np.float32)})  # strict: every array or none


def test_the_served_model_beats_the_naive_predictor(smoke_data):
    splits = data.load(smoke_data, ("train", "val"))
    model = model_from_weights(load_weights(RULES, "smoke", smoke_data))
    with torch.inference_mode():
        predicted = model(torch.from_numpy(splits["val"].inputs)).numpy()
    val = splits["val"].targets
    naive = np.full_like(val, splits["train"].targets.mean())
    assert r2(predicted, val) == pytest.approx(RULES.inference.reference_quality["smoke"], abs=1e-6)
    assert r2(predicted, val) - r2(naive, val) > MARGIN


def test_weights_whose_hash_differs_are_refused_in_one_line(smoke_data, tmp_path):
    copy = tmp_path / "smoke"
    copy.mkdir()
    served = dict(np.load(weights_path(smoke_data, "lstm_inference")))
    served["head.bias"] = served["head.bias"] + 1.0
    np.savez(weights_path(copy, "lstm_inference"), **served)
    with pytest.raises(UserError, match="differs from the rules'") as err:
        load_weights(RULES, "smoke", copy)
    assert "accelbench data generate lstm_inference --scale smoke" in str(err.value)
    weights_path(copy, "lstm_inference").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable weights archive"):
        load_weights(RULES, "smoke", copy)
