"""The IPU submission of mcmc_alpha, on the CPU: everything but Graphcore's TensorFlow itself.

No IPU or Poplar SDK is available here. The plan, the chains' seeds and the splitting and
re-stacking of the replicas' draws are tested directly; the guarded SDK import must fail in one
line; and the session runs end to end, through the sampling harness too, on a CPU stand-in for the
IPUs that compiles the same per-chain program with XLA and runs it for each replica in turn, handing
its outputs back in the outfeed's layout and refusing float64 inputs as IPUStrategy does. With one
chain the program is the reference's, so its draws must be the reference's; with two, each chain
must depend on nothing but its own start.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from accelbench.contracts.context import RunContext
from accelbench.contracts.sampling import DrawBlock
from accelbench.errors import UserError
from accelbench.reference.mcmc_alpha import network
from accelbench.reference.mcmc_alpha import sampling as reference
from accelbench.reference.mcmc_alpha.tfp_model import require_tensorflow
from accelbench.results.draws import read_draws
from accelbench.results.models import DatasetRecord
from accelbench.rules.loader import load_rules
from accelbench.run.devices import Device
from accelbench.run.implementations import resolve_implementation
from accelbench.run.preparation import PreparedData
from accelbench.run.sampling import SamplingHarness
from accelbench.run.world import SINGLE
from accelbench.submissions.ipu import mcmc_alpha
from accelbench.submissions.ipu.mcmc_alpha.chain import OneChainProgram
from accelbench.submissions.ipu.mcmc_alpha.config import chain_seeds, ipu_count, plan_for, poplar_flags
from accelbench.submissions.ipu.mcmc_alpha.poplar import require_ipu
from accelbench.submissions.ipu.mcmc_alpha.replicas import draw_block, joined, per_replica, stacked
from accelbench.submissions.ipu.mcmc_alpha.session import IpuSamplingSession

RULES = load_rules("mcmc_alpha")
FEATURES, HIDDEN, DRAWS = 3, 4, 10
TINY = RULES.model_copy(update={"sampling": RULES.sampling.model_copy(update={
    "leapfrog_steps": {"smoke": 3}, "burn_in": {"smoke": 10}, "results_per_chain": {"smoke": DRAWS},
    "block_draws": {"smoke": 5}, "probe_rows": 4,
    "model": RULES.sampling.model.model_copy(update={"hidden_units": HIDDEN})})})
"""The rules at a size the CPU compiles in seconds (23 parameters, 3 leapfrog steps, blocks of 5)."""
PARAMETERS = network.parameter_count(FEATURES, HIDDEN)


def prepared_data() -> PreparedData:
    generator = np.random.default_rng(0)
    inputs = generator.standard_normal((64, FEATURES)).astype(np.float32)
    targets = (np.tanh(inputs[:, :1]) + 0.1 * generator.standard_normal((64, 1))).astype(np.float32)
    return PreparedData(train_inputs=inputs[:48], train_targets=targets[:48], eval_inputs=inputs[48:],
                        eval_targets=targets[48:], record=DatasetRecord(id="tiny", generator_version="test",
                                                                        seed=0, splits={}))


def run_context(chains: int, precision: str = "fp32") -> RunContext:
    return RunContext(workload="mcmc_alpha", scale="smoke", division="closed",
                      hyperparameters={"precision": precision, "chains": chains}, seed=11, device="ipu", world=SINGLE)


def sampling_context(chains: int, precision: str = "fp32"):
    return SamplingHarness(TINY, "smoke").context(run_context(chains, precision), prepared_data())


# --- the plan ------------------------------------------------------------------------------------


def test_the_plan_takes_one_ipu_per_chain_and_reads_the_poplar_flags():
    plan = plan_for(sampling_context(4), environ={})
    assert (plan.ipus, plan.replicas, plan.ipu_model, plan.executable_cache) == (4, 4, False, None)
    flags = {"TF_POPLAR_FLAGS": "--show_progress_bar=false --use_ipu_model --executable_cache_path=/cache/tf"}
    assert poplar_flags(flags) == (True, "/cache/tf")
    assert poplar_flags({"TF_POPLAR_FLAGS": "--executable_cache_path="}) == (False, None)


@pytest.mark.parametrize(("chains", "fix"), [(3, "chains=2 or --hparam chains=4"), (6, "chains=4 or --hparam chains=8"),
                                             (12, "chains=8 or --hparam chains=16")])
def test_a_chain_count_no_ipu_group_holds_is_refused_in_one_line(chains, fix):
    with pytest.raises(UserError) as refused:
        ipu_count(chains)
    assert "\n" not in str(refused.value) and fix in str(refused.value)
    assert [ipu_count(count) for count in (1, 2, 4, 16, 64)] == [1, 2, 4, 16, 64]


def test_a_precision_other_than_fp32_is_refused_in_one_line():
    with pytest.raises(UserError) as refused:
        plan_for(sampling_context(2, precision="fp16"), environ={})
    assert "\n" not in str(refused.value) and "--hparam precision=fp32" in str(refused.value)


def test_every_chain_and_call_has_its_own_seed_and_one_chain_has_the_references():
    seeds = np.concatenate([chain_seeds(2**31 + 5, call, 4) for call in range(3)])
    assert seeds.dtype == np.int32 and seeds.shape == (12, 2)
    assert set(seeds[:, 0]) == {5} and sorted(seeds[:, 1]) == list(range(12))
    assert chain_seeds(11, 7, 1).tolist() == [[11, 7]]  # tfp_model.Chains seeds call 7 with (seed, 7)


# --- the replicas' outputs, re-stacked -----------------------------------------------------------


def test_one_calls_outfeed_is_split_per_replica_with_or_without_replication():
    replicated = np.arange(24).reshape(1, 4, 6)  # one enqueue x 4 replicas
    np.testing.assert_array_equal(per_replica(replicated, 4), replicated[0])
    single = np.arange(6).reshape(1, 6)  # one enqueue, no replica axis
    np.testing.assert_array_equal(per_replica(single, 1), single)
    with pytest.raises(RuntimeError, match="2 enqueues"):
        per_replica(np.zeros((2, 4, 6)), 4)


def test_each_chains_arrays_are_stacked_on_a_new_leading_axis():
    per_chain = [[np.full((1, 3), chain), np.array(chain, np.int32)] for chain in range(4)]
    states, counters = stacked(per_chain)
    assert states.shape == (4, 1, 3) and counters.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(states[2], [[2, 2, 2]])
    with pytest.raises(ValueError):
        stacked([[np.zeros(1)], [np.zeros(1), np.zeros(1)]])


def test_a_block_comes_back_in_the_contracts_chain_step_order():
    chains, steps = 3, 4
    states = np.arange(chains * steps * PARAMETERS, dtype=np.float32).reshape(chains, steps, 1, PARAMETERS)
    log_prob = np.arange(chains * steps, dtype=np.float32).reshape(chains, steps, 1)
    accepted = (log_prob % 2 == 0)
    block = draw_block(states, log_prob, accepted, np.array([0.1, 0.2, 0.3]).reshape(chains, 1, 1), True)
    assert block.states.shape == (chains, steps, PARAMETERS) and block.states.dtype == np.float32
    np.testing.assert_array_equal(block.states[1, 2], states[1, 2, 0])
    assert block.target_log_prob.shape == (chains, steps) and block.target_log_prob[2, 3] == 11.0
    assert block.accepted.dtype == bool and block.accepted[0].tolist() == [True, False, True, False]
    assert block.step_size.tolist() == [0.1, 0.2, 0.3]
    assert draw_block(states, log_prob, accepted, np.ones((chains, 1, 1)), False).states is None


def test_burn_in_blocks_join_in_step_order_with_the_last_step_size():
    first = DrawBlock(None, np.zeros((2, 3)), np.ones((2, 3), bool), np.array([0.1, 0.1]))
    second = DrawBlock(None, np.ones((2, 2)), np.zeros((2, 2), bool), np.array([0.2, 0.3]))
    burn = joined([first, second])
    assert burn.states is None and burn.target_log_prob.tolist() == [[0, 0, 0, 1, 1]] * 2
    assert burn.accepted[0].tolist() == [True, True, True, False, False] and burn.step_size.tolist() == [0.2, 0.3]


# --- without the SDK -----------------------------------------------------------------------------


def test_the_guarded_sdk_import_says_what_is_missing_in_one_line():
    with pytest.raises(UserError) as refused:
        require_ipu()
    message = str(refused.value)
    assert "\n" not in message and "Poplar SDK 3.4" in message and "tensorflow-probability 0.14" in message


def test_create_session_checks_the_plan_before_the_sdk():
    with pytest.raises(UserError, match="powers of two"):
        mcmc_alpha.create_session(sampling_context(3))
    with pytest.raises(UserError, match="Poplar SDK 3.4"):
        mcmc_alpha.create_session(sampling_context(2))


def test_the_runner_finds_the_package_which_imports_neither_tensorflow_nor_the_sdk():
    ipu = Device("ipu", "ipu", "Graphcore IPU")
    assert resolve_implementation(RULES, ipu) is mcmc_alpha
    probe = "import sys, accelbench.submissions.ipu.mcmc_alpha; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# --- the session on a CPU stand-in for the IPUs --------------------------------------------------


class ReplicasInTurn:
    """What `poplar.IpuReplicas` does, on the CPU: the body compiled by XLA once per `steps`, called
    with each replica's index in turn, its outputs in the outfeed's layout (enqueues, replicas, ...),
    or (enqueues, ...) for one replica, read back through `per_replica`."""

    def __init__(self, replicas: int) -> None:
        self.tf, _ = require_tensorflow()
        self.replicas = replicas
        self.programs: dict[int, object] = {}

    def run(self, steps, body, inputs):
        assert all(np.asarray(array).dtype != np.float64 for array in inputs), "IPUStrategy refuses float64"
        program = self.programs.setdefault(steps, self.tf.function(body, jit_compile=True))
        arguments = [self.tf.constant(array) for array in inputs]
        outputs = [program(self.tf.constant(replica, "int32"), *arguments) for replica in range(self.replicas)]
        outfed = [np.stack([np.asarray(output[position]) for output in outputs]) for position in range(len(outputs[0]))]
        return [per_replica(array[None] if self.replicas > 1 else array, self.replicas) for array in outfed]


def cpu_session(context, program=None, replicas=None):
    tf, tfp = require_tensorflow()
    program = program or OneChainProgram(tf, tfp, context)
    return IpuSamplingSession(context, program, replicas or ReplicasInTurn(context.chains),
                              plan_for(context, environ={}), framework=f"tensorflow {tf.__version__}")


def sampled(session, blocks=2):
    """(burn-in, kept blocks) of a session driven as the harness drives it."""
    session.warm_up()
    burn = session.burn_in()
    return burn, [session.draw(session.context.draws_per_block) for _ in range(blocks)]


def test_one_chain_draws_what_the_reference_draws_from_the_same_start_and_seed():
    context = sampling_context(1)
    ipu_burn, ipu_blocks = sampled(cpu_session(context))
    reference_burn, reference_blocks = sampled(reference.create_session(context))
    np.testing.assert_allclose(ipu_burn.target_log_prob, reference_burn.target_log_prob, rtol=1e-5)
    np.testing.assert_array_equal(ipu_burn.accepted, reference_burn.accepted)
    np.testing.assert_allclose(ipu_burn.step_size, reference_burn.step_size, rtol=1e-6)
    for ours, theirs in zip(ipu_blocks, reference_blocks, strict=True):
        assert ours.states.shape == theirs.states.shape == (1, 5, PARAMETERS)
        np.testing.assert_allclose(ours.states, theirs.states, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours.target_log_prob, theirs.target_log_prob, rtol=1e-5)
        np.testing.assert_array_equal(ours.accepted, theirs.accepted)


def test_each_chain_depends_only_on_its_own_start():
    context = sampling_context(2)
    moved = np.array(context.initial_state)
    moved[0] = -moved[0]  # chain 0 starts elsewhere, chain 1 where it did
    tf, tfp = require_tensorflow()
    program, replicas = OneChainProgram(tf, tfp, context), ReplicasInTurn(2)
    _, blocks = sampled(cpu_session(context, program, replicas))
    _, moved_blocks = sampled(cpu_session(dataclasses.replace(context, initial_state=moved), program, replicas))
    assert len(replicas.programs) == 1  # one compiled program served both sessions
    for block, moved_block in zip(blocks, moved_blocks, strict=True):
        np.testing.assert_array_equal(block.states[1], moved_block.states[1])
        assert not np.allclose(block.states[0], moved_block.states[0])


def test_two_chains_run_through_the_harness(tmp_path):
    implementation = type("OnCpuReplicas", (), {"create_session": staticmethod(cpu_session)})
    record = SamplingHarness(TINY, "smoke").run(implementation, run_context(2), prepared_data(),
                                                tmp_path / "ipu.draws.nc")
    draws = read_draws(tmp_path / "ipu.draws.nc")
    assert draws.states.shape == (2, DRAWS, PARAMETERS) and draws.accepted.shape == (2, DRAWS)
    assert np.all(np.isfinite(draws.states)) and np.all(np.isfinite(draws.target_log_prob))
    assert not np.array_equal(draws.states[0], draws.states[1])
    sampler = record.sections["sampler"]
    assert sampler.chains == 2 and all(size > 0 for size in sampler.step_size)
    assert sampler.session == {"framework": sampler.session["framework"], "ipus": 2, "replicas": 2,
                               "chains_per_replica": 1, "xla": True, "ipu_model": False}
