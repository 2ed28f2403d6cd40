"""The sampling kind's rules and the pieces the harness and the validator share: the [sampling]
table and its completeness, the chain count as a hyperparameter the closed division fixes, a
sampler's calibration record, the diagnostics (ArviZ) and the draws file, with property tests."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from accelbench.errors import UserError
from accelbench.judging.posterior import diagnose, predictive_log_likelihood, student_t_log_density
from accelbench.results.draws import Draws, read_draws, write_draws
from accelbench.rules.loader import load_rules
from accelbench.rules.schema import BenchmarkRules, CalibrationRecord
from accelbench.run import hyperparameters

RULES = load_rules("mcmc_alpha")


def as_dict(rules: BenchmarkRules) -> dict:
    return rules.model_dump(mode="python")


def test_the_workload_is_the_seeds_model_and_budget():
    s = RULES.sampling
    assert RULES.kind == "sampling" and s.model.hidden_units == 40
    assert s.leapfrog_steps["full"] == 1000 and s.burn_in["full"] == 100 and s.results_per_chain["full"] == 400
    assert {b.metric for b in RULES.quality.bounds} == {"rhat", "ess_bulk", "ess_tail"}
    assert RULES.quality.bounds[0].value["full"] == 1.01
    assert s.adaptation_steps("smoke") == int(s.burn_in["smoke"] * s.adaptation_fraction)


def test_a_sampling_workload_needs_its_table_and_every_scale():
    document = as_dict(RULES)
    del document["sampling"]
    with pytest.raises(ValidationError, match="a sampling workload needs a \\[sampling\\] table"):
        BenchmarkRules.model_validate(document)
    document = as_dict(RULES)
    del document["sampling"]["leapfrog_steps"]["small"]
    with pytest.raises(ValidationError, match="sampling.leapfrog_steps: no entry for scale"):
        BenchmarkRules.model_validate(document)
    document = as_dict(RULES)
    del document["hyperparameters"]["reference"]["chains"]
    del document["hyperparameters"]["closed"]["chains"], document["hyperparameters"]["open"]["chains"]
    del document["hyperparameters"]["scale_overrides"]["smoke"]["chains"]
    with pytest.raises(ValidationError, match="a sampling workload needs chains"):
        BenchmarkRules.model_validate(document)


def test_a_chain_count_the_rules_do_not_allow_is_one_line():
    assert hyperparameters.resolve(RULES, "smoke", "closed", {})["chains"] == 2
    assert hyperparameters.resolve(RULES, "small", "closed", {})["chains"] == 4
    with pytest.raises(UserError) as err:
        hyperparameters.resolve(RULES, "smoke", "closed", {}, ["chains=3"])
    assert "'chains' = 3 breaks the reference value 2 at scale smoke" in str(err.value)
    assert hyperparameters.resolve(RULES, "smoke", "open", {}, ["chains=8"])["chains"] == 8
    with pytest.raises(UserError, match="'chains' = 1 breaks integer range"):
        hyperparameters.resolve(RULES, "smoke", "open", {}, ["chains=1"])


def test_a_samplers_calibration_counts_draws_not_epochs():
    record = CalibrationRecord(status="calibrated", device="cpu", date=datetime.date(2026, 12, 3), runs=2, seeds=[1, 2],
                               draws_to_target=[100, 150], time_to_target_s=[10.0, 12.0], final_metric=[-1.2, -1.2])
    assert record.draws_to_target == [100, 150] and record.global_batch_size is None
    with pytest.raises(ValidationError, match="draws_to_target"):
        CalibrationRecord(status="calibrated", device="cpu", date=datetime.date(2026, 12, 3), runs=2, seeds=[1, 2],
                          draws_to_target=[100], time_to_target_s=[10.0, 12.0], final_metric=[-1.2, -1.2])


def test_diagnostics_separate_mixed_from_stuck_chains():
    rng = np.random.default_rng(0)
    mixed = diagnose(rng.standard_normal((4, 400, 3)), 0.05)
    shifted = rng.standard_normal((4, 400, 3))
    shifted[0] += 3.0  # one chain elsewhere
    stuck = diagnose(shifted, 0.05)
    assert mixed.rhat < 1.01 and mixed.ess_bulk > 1000 and mixed.ess_tail > 800
    assert stuck.rhat > 1.3 and stuck.ess_bulk < 100
    assert diagnose(rng.standard_normal((1, 400, 3)), 0.05).rhat is None  # one chain: no R-hat
    assert diagnose(np.ones((2, 50, 1)), 0.05).rhat is None  # constant chains: no R-hat, so never converged


def test_the_predictive_score_averages_densities_not_log_densities():
    targets = np.array([0.0, 1.0])
    predictions = np.array([[0.0, 1.0], [2.0, -1.0]])
    density = np.exp(student_t_log_density(targets[None], predictions, 0.5, 2.2))
    assert predictive_log_likelihood(predictions, targets, 2.2, 0.5) == pytest.approx(np.mean(np.log(density.mean(0))))


@settings(max_examples=25, deadline=None)
@given(chains=st.integers(2, 5), draws=st.integers(4, 60), seed=st.integers(0, 2**16))
def test_diagnostics_do_not_depend_on_the_order_of_the_chains(chains, draws, seed):
    values = np.random.default_rng(seed).standard_normal((chains, draws, 2))
    forward, backward = diagnose(values, 0.05), diagnose(values[::-1], 0.05)
    for name in ("rhat", "ess_bulk", "ess_tail"):
        a, b = getattr(forward, name), getattr(backward, name)
        assert (a is None and b is None) or a == pytest.approx(b, rel=1e-9)


@settings(max_examples=10, deadline=None)
@given(chains=st.integers(1, 4), draws=st.integers(0, 12), parameters=st.integers(1, 9), seed=st.integers(0, 99))
def test_a_draws_file_reads_back_exactly(tmp_path_factory, chains, draws, parameters, seed):
    rng = np.random.default_rng(seed)
    written = Draws(rng.standard_normal((chains, draws, parameters)).astype(np.float32),
                    rng.standard_normal((chains, draws)), rng.random((chains, draws)) < 0.5)
    path = tmp_path_factory.mktemp("draws") / "run_1.draws.nc"
    write_draws(path, written)
    read = read_draws(path)
    assert np.array_equal(read.states, written.states) and read.states.dtype == np.float32
    assert np.array_equal(read.target_log_prob, written.target_log_prob)
    assert np.array_equal(read.accepted, written.accepted)


def test_a_draws_file_that_is_not_one_is_a_one_line_error(tmp_path):
    path = tmp_path / "run_1.draws.nc"
    path.write_bytes(b"\x89HDF but not really")
    with pytest.raises(UserError) as err:
        read_draws(path)
    assert str(err.value).startswith(f"{path}: not a readable draws file") and "\n" not in str(err.value)
    with pytest.raises(UserError, match="draws file is missing"):
        read_draws(tmp_path / "absent.draws.nc")
