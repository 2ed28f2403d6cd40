"""mcmc_alpha's reference: the data generator (deterministic, 22 standardised features, a known truth
with its oracle), the numpy network that scores draws (the same function as TFP's log density),
the TFP sampler (its draws continue block to block and depend only on the seed), and its one-line
errors."""

from __future__ import annotations

import json
import sys

import h5py
import numpy as np
import pytest

from accelbench.contracts.sampling import SamplingContext
from accelbench.errors import UserError
from accelbench.judging.draws_scoring import initial_state
from accelbench.judging.posterior import student_t_log_density
from accelbench.reference.mcmc_alpha import data, network
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE

RULES = load_rules("mcmc_alpha")
PARAMETERS = RULES.dataset.parameters_for("smoke")


def generate(tmp_path, sizes=None, seed=3, **changes):
    return data.generate(tmp_path, sizes or {"train": 300, "val": 100}, seed, **{**PARAMETERS, **changes})


def test_the_generator_is_deterministic_and_standardised(tmp_path):
    first = generate(tmp_path / "a")
    second = generate(tmp_path / "b")
    assert first.splits == second.splits
    splits = data.load(tmp_path / "a")
    train = splits["train"]
    assert train.inputs.shape == (300, 22) and train.targets.shape == (300, 1) and train.inputs.dtype == np.float32
    assert np.allclose(train.inputs.mean(axis=0), 0, atol=1e-5) and np.allclose(train.inputs.std(axis=0), 1, atol=1e-4)
    assert generate(tmp_path / "c", seed=4).splits["train"].sha256 != first.splits["train"].sha256


def test_the_truth_explains_the_alpha_and_the_oracle_beats_a_constant(tmp_path):
    generate(tmp_path, sizes={"train": 2000, "val": 1000})
    meta = json.loads(h5py.File(tmp_path / "mcmc_alpha.data.h5")["meta.JSON"][()])
    truth = data.alpha_model(3, **PARAMETERS)
    val = data.load(tmp_path)["val"]
    assert meta["oracle_log_likelihood"]["val"] == pytest.approx(
        truth.oracle_log_likelihood(val.inputs.astype(np.float64), val.targets))
    constant = student_t_log_density(val.targets.ravel(), float(np.median(val.targets)), PARAMETERS["noise_scale"],
                                     PARAMETERS["noise_df"]).mean()
    assert meta["oracle_log_likelihood"]["val"] > constant + 0.1
    residual = val.targets.ravel() - truth.alpha(val.inputs.astype(np.float64))
    assert np.median(np.abs(residual)) < np.median(np.abs(val.targets - np.median(val.targets)))


def test_window_features_are_the_documented_statistics():
    returns = np.random.default_rng(1).standard_normal((3, 200)) * 0.01
    features = data.window_features(returns)
    names = list(data.FEATURE_NAMES)
    assert features.shape == (3, 22) and len(names) == 22
    assert np.allclose(features[:, names.index("mean_20")], returns[:, -20:].mean(axis=1))
    assert np.allclose(features[:, names.index("vol_200")], returns.std(axis=1))
    assert np.allclose(features[:, names.index("up_fraction_20")], (returns[:, -20:] > 0).mean(axis=1))


@pytest.mark.parametrize(("change", "fragment"), [
    ({"window": 100}, "window=100; give an integer >= 200"),
    ({"jump_rate": 1.5}, "jump_rate=1.5; give a number in [0, 1)"),
    ({"noise_df": 0.0}, "noise_df=0.0; give a number > 0"),
])
def test_bad_generator_parameters_are_one_line(tmp_path, change, fragment):
    with pytest.raises(UserError) as err:
        generate(tmp_path, **change)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_the_numpy_network_follows_the_seed_layout():
    hidden, features = 40, 22
    assert network.parameter_count(features, hidden) == 963  # the seed's 22*40+40+40+3
    rng = np.random.default_rng(0)
    state, x = rng.standard_normal(963), rng.standard_normal((5, features))
    w1 = state[:880].reshape(22, 40)
    b1, w2, (b2, w3, b3) = state[880:920], state[920:960], state[960:]
    expected = (np.tanh(x @ w1 + b1) @ w2 + b2) * w3 + b3
    assert np.allclose(network.predict(state[None, None], x, hidden)[0, 0], expected)
    with pytest.raises(ValueError, match="states have 962 parameters"):
        network.predict(state[None, :-1], x, hidden)


def context(chains=2, seed=11, leapfrog=3, burn_in=4, block=3) -> SamplingContext:
    rng = np.random.default_rng(2)
    inputs = rng.standard_normal((40, 22)).astype(np.float32)
    return SamplingContext(
        workload="mcmc_alpha", scale="smoke", division="closed", hyperparameters={"chains": chains}, seed=seed,
        device="cpu", world=SINGLE, inputs=inputs, targets=rng.standard_normal((40, 1)).astype(np.float32),
        model=RULES.sampling.model, initial_state=initial_state(seed, chains, 963, 0.1), leapfrog_steps=leapfrog,
        burn_in=burn_in, adaptation_steps=3, initial_step_size=0.01, target_accept_prob=0.65, draws_per_block=block)


def test_tfp_log_density_is_the_numpy_network_under_the_rules_priors():
    pytest.importorskip("tensorflow_probability")
    from accelbench.reference.mcmc_alpha.tfp_model import log_posterior, require_tensorflow

    tf, tfp = require_tensorflow()
    ctx = context()
    log_prob = log_posterior(tf, tfp, ctx, dtype="float64")(tf.constant(ctx.initial_state, tf.float64)).numpy()
    model = ctx.model
    predicted = network.predict(ctx.initial_state, ctx.inputs, model.hidden_units)
    likelihood = student_t_log_density(ctx.targets[:, 0][None], predicted, model.likelihood_scale,
                                       model.likelihood_df).sum(axis=1)
    states = ctx.initial_state.astype(np.float64)
    prior = (-0.5 * (states / model.prior_scale) ** 2 - np.log(model.prior_scale * np.sqrt(2 * np.pi))).sum(axis=1)
    assert np.allclose(log_prob, likelihood + prior, rtol=1e-10)


def test_the_reference_session_draws_blocks_that_depend_only_on_the_seed():
    pytest.importorskip("tensorflow_probability")
    from accelbench.reference.mcmc_alpha.sampling import create_session

    def sample(seed):
        session = create_session(context(seed=seed))
        session.warm_up()
        burn = session.burn_in()
        return burn, session.draw(3), session.draw(2)

    burn, first, second = sample(11)
    assert burn.states is None and burn.target_log_prob.shape == (2, 4) and burn.step_size.shape == (2,)
    assert first.states.shape == (2, 3, 963) and second.states.shape == (2, 2, 963)
    assert np.all(np.isfinite(first.target_log_prob)) and first.accepted.dtype == bool
    again = sample(11)
    assert np.array_equal(first.states, again[1].states) and np.array_equal(second.states, again[2].states)
    assert not np.array_equal(first.states, sample(12)[1].states)
    assert not np.array_equal(first.states[0], first.states[1])  # the chains are independent


def test_without_tensorflow_probability_the_error_names_the_extra(monkeypatch):
    from accelbench.reference.mcmc_alpha.tfp_model import require_tensorflow

    monkeypatch.setitem(sys.modules, "tensorflow_probability", None)
    with pytest.raises(UserError) as err:
        require_tensorflow()
    assert "pip install 'accelbench[tf]'" in str(err.value) and "\n" not in str(err.value)
