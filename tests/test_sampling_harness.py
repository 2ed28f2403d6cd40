"""The sampling loop with fast fake sessions (no TensorFlow): the harness keeps every draw, checks
the diagnostics after each block, stops at the first block that meets the rules or at the draw
budget, fails a run with a non-finite log-probability at its step and chain (keeping the draws so
far), and refuses a session that returns the wrong shapes, in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accelbench.contracts.context import RunContext
from accelbench.contracts.sampling import DrawBlock, SamplingSession
from accelbench.errors import UserError
from accelbench.judging.draws_scoring import initial_state
from accelbench.results.draws import read_draws
from accelbench.results.models import DatasetRecord
from accelbench.rules.loader import load_rules
from accelbench.run.preparation import PreparedData
from accelbench.run.sampling import SamplingHarness
from accelbench.run.world import SINGLE

ROWS, FEATURES = 64, 22


def rules_with(target: float = -1e6, block: int = 20, limit: int = 100, ess: float = 20.0):
    """mcmc_alpha's rules at smoke, with a small budget and bounds iid draws meet."""
    rules = load_rules("mcmc_alpha")
    s = rules.sampling
    sampling = s.model_copy(update={"block_draws": {**s.block_draws, "smoke": block},
                                    "results_per_chain": {**s.results_per_chain, "smoke": limit},
                                    "probe_rows": 4})
    bounds = [b.model_copy(update={"value": {**b.value, "smoke": 1.2 if b.metric == "rhat" else ess}})
              for b in rules.quality.bounds]
    quality = rules.quality.model_copy(update={"target": {**rules.quality.target, "smoke": target}, "bounds": bounds})
    return rules.model_copy(update={"sampling": sampling, "quality": quality})


def prepared() -> PreparedData:
    generator = np.random.default_rng(0)
    inputs = generator.standard_normal((ROWS, FEATURES)).astype(np.float32)
    targets = generator.standard_normal((ROWS, 1)).astype(np.float32)
    record = DatasetRecord(id="mcmc_alpha/smoke", generator_version="test", seed=0, splits={})
    return PreparedData(train_inputs=inputs, train_targets=targets, eval_inputs=inputs, eval_targets=targets,
                        record=record)


def run_context(chains: int = 2, seed: int = 5) -> RunContext:
    return RunContext(workload="mcmc_alpha", scale="smoke", division="closed",
                      hyperparameters={"precision": "fp32", "chains": chains}, seed=seed, device="cpu", world=SINGLE)


class IidSession(SamplingSession):
    """Draws every state independently around the start: a chain that mixes perfectly."""

    def __init__(self, context, nan_at: int | None = None, wrong_shape: bool = False):
        self.context, self.nan_at, self.wrong_shape = context, nan_at, wrong_shape
        self.generator = np.random.default_rng(context.seed)
        self.drawn = 0
        self.burned = False

    def burn_in(self) -> DrawBlock:
        self.burned = True
        chains, steps = self.context.chains, self.context.burn_in
        return DrawBlock(None, np.zeros((chains, steps)), np.ones((chains, steps), bool), np.full(chains, 0.01))

    def draw(self, count: int) -> DrawBlock:
        chains, parameters = self.context.initial_state.shape
        states = (0.1 * self.generator.standard_normal((chains, count, parameters))).astype(np.float32)
        log_prob = -np.ones((chains, count))
        if self.nan_at is not None and self.drawn <= self.nan_at < self.drawn + count:
            log_prob[1, self.nan_at - self.drawn] = np.nan
        self.drawn += count
        if self.wrong_shape:
            states = states[:, :-1]
        return DrawBlock(states, log_prob, np.ones((chains, count), bool), np.full(chains, 0.01))


class Implementation:
    def __init__(self, **options):
        self.options, self.sessions = options, []

    def create_session(self, context):
        session = IidSession(context, **self.options)
        self.sessions.append(session)
        return session


def test_a_run_stops_at_the_first_block_that_meets_the_bounds_and_the_target(tmp_path):
    implementation = Implementation()
    record = SamplingHarness(rules_with(ess=150.0, limit=200), "smoke").run(implementation, run_context(), prepared(),
                                                                   tmp_path / "run_1.draws.nc")
    quality = record.sections["quality"]
    draws = read_draws(tmp_path / "run_1.draws.nc")
    assert quality.converged and "after" in quality.stop_reason
    assert draws.draws_per_chain == quality.curve[-1].draws_per_chain < 200
    assert [p.draws_per_chain for p in quality.curve] == list(range(20, draws.draws_per_chain + 1, 20))
    assert all(p.ess_bulk < 150 for p in quality.curve[:-1]) and quality.curve[-1].ess_bulk >= 150
    assert quality.measurements["ess_bulk"] == quality.curve[-1].ess_bulk
    assert implementation.sessions[0].drawn == draws.draws_per_chain  # nothing drawn past the stop
    assert (tmp_path / "run_1.heldout.npz").is_file() and record.sections["heldout"].file == "run_1.heldout.npz"


def test_the_chains_start_where_the_harness_says_and_the_start_is_recorded(tmp_path):
    implementation = Implementation()
    record = SamplingHarness(rules_with(), "smoke").run(implementation, run_context(chains=3, seed=9), prepared(),
                                                          tmp_path / "run_1.draws.nc")
    start = implementation.sessions[0].context.initial_state
    assert start.shape == (3, 22 * 40 + 83) and np.array_equal(start, initial_state(9, 3, 963, 0.1))
    assert not np.array_equal(start[0], start[1])  # each chain its own start
    import hashlib
    assert record.sections["sampler"].initial_state_sha256 == hashlib.sha256(start.tobytes()).hexdigest()


def test_an_unreachable_target_runs_to_the_budget_and_says_why(tmp_path):
    record = SamplingHarness(rules_with(target=10.0), "smoke").run(Implementation(), run_context(), prepared(),
                                                                     tmp_path / "run_1.draws.nc")
    quality = record.sections["quality"]
    assert not quality.converged and quality.stop_reason.startswith("100 draws per chain, the budget")
    assert "predictive_log_likelihood" in quality.stop_reason and "below 10.0" in quality.stop_reason
    assert read_draws(tmp_path / "run_1.draws.nc").draws_per_chain == 100
    assert record.sections["timing"].time_to_train_s == pytest.approx(record.sections["timing"].run_s)


def test_a_non_finite_log_probability_fails_the_run_at_its_step_and_chain_and_keeps_the_draws(tmp_path):
    record = SamplingHarness(rules_with(target=10.0), "smoke").run(Implementation(nan_at=45), run_context(),
                                                                     prepared(), tmp_path / "run_1.draws.nc")
    quality = record.sections["quality"]
    assert not quality.converged
    assert quality.stop_reason == "non-finite log-probability at draw 46 of chain 1"
    draws = read_draws(tmp_path / "run_1.draws.nc")
    assert draws.draws_per_chain == 60 and np.isnan(draws.target_log_prob[1, 45])


def test_a_session_returning_the_wrong_shape_is_one_line(tmp_path):
    with pytest.raises(UserError) as err:
        SamplingHarness(rules_with(), "smoke").run(Implementation(wrong_shape=True), run_context(), prepared(),
                                                   tmp_path / "run_1.draws.nc")
    assert "draw(20) returned states (2, 19, 963)" in str(err.value) and "\n" not in str(err.value)


def test_a_sampling_workload_has_no_fixed_epoch_mode():
    with pytest.raises(UserError, match="sampling workload: it has no fixed_epochs mode"):
        SamplingHarness(rules_with(), "smoke", mode="fixed_epochs")


def test_the_result_sections_round_trip_through_json(tmp_path):
    record = SamplingHarness(rules_with(), "smoke").run(Implementation(), run_context(), prepared(),
                                                          tmp_path / "run_1.draws.nc")
    for name, section in record.sections.items():
        assert type(section).model_validate(json.loads(section.model_dump_json())) == section, name


def test_progress_reports_the_burn_in_then_every_block(tmp_path):
    lines = []
    SamplingHarness(rules_with(target=10.0), "smoke").run(
        Implementation(), run_context(), prepared(), tmp_path / "run_1.draws.nc",
        on_progress=lambda progress: lines.append(progress.describe("run 1/1", "predictive_log_likelihood")))
    assert lines[0].startswith("  run 1/1 burn-in: 200 steps in ") and "acceptance 1.00 1.00" in lines[0]
    assert len(lines) == 1 + 5 and lines[-1].startswith("  run 1/1 draws 100/100 per chain: R-hat ")


def test_the_validator_expects_a_check_after_every_block_but_one_that_failed(tmp_path):
    from accelbench.validation.sampling_checks import checked_blocks

    rules = rules_with(target=10.0)
    record = SamplingHarness(rules, "smoke").run(Implementation(nan_at=45), run_context(), prepared(),
                                                 tmp_path / "run_1.draws.nc")
    draws = read_draws(tmp_path / "run_1.draws.nc")
    checked = [point.draws_per_chain for point in record.sections["quality"].curve]
    assert checked == checked_blocks(draws, 20, 100) == [20, 40]  # the third block held the NaN
    full = SamplingHarness(rules, "smoke").run(Implementation(), run_context(), prepared(), tmp_path / "run_2.draws.nc")
    assert [p.draws_per_chain for p in full.sections["quality"].curve] == checked_blocks(
        read_draws(tmp_path / "run_2.draws.nc"), 20, 100) == [20, 40, 60, 80, 100]
