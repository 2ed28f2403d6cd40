"""The a100 mcmc_alpha submission on the CPU build path: its closed-rules defaults, the one-line
refusal without a GPU, and one tiny run through the real sampling harness whose draws must be the
reference's own (the same program, seed and initial state, on the same device). The GPU itself
is exercised by benchmarks/check_a100_mcmc_alpha.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from accelbench.contracts.context import RunContext
from accelbench.errors import UserError
from accelbench.reference.mcmc_alpha import network
from accelbench.reference.mcmc_alpha import sampling as reference
from accelbench.reference.mcmc_alpha.tfp_model import require_tensorflow
from accelbench.results.draws import read_draws
from accelbench.results.models import DatasetRecord
from accelbench.rules.loader import load_rules
from accelbench.run.preparation import PreparedData
from accelbench.run.sampling import SamplingHarness
from accelbench.run.world import SINGLE
from accelbench.submissions.a100.mcmc_alpha import HYPERPARAMETERS, create_session
from accelbench.submissions.a100.mcmc_alpha.session import session_on, tensorflow_device

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
RULES = load_rules("mcmc_alpha")
FEATURES, HIDDEN, CHAINS, DRAWS = 3, 4, 2, 10
TINY = RULES.model_copy(update={"sampling": RULES.sampling.model_copy(update={
    "leapfrog_steps": {"smoke": 3}, "burn_in": {"smoke": 10}, "results_per_chain": {"smoke": DRAWS},
    "block_draws": {"smoke": 5}, "probe_rows": 4,
    "model": RULES.sampling.model.model_copy(update={"hidden_units": HIDDEN})})})
"""The rules at a size the CPU compiles in seconds: 3 features and 4 hidden units (23 parameters),
3 leapfrog steps, a burn-in of 10 (8 adapting) and 10 kept draws, all in blocks of 5 (one program)."""
PARAMETERS = network.parameter_count(FEATURES, HIDDEN)


def skip_if_a_gpu_is_visible() -> None:
    """Here, not as a skipif mark: asking TensorFlow would import it when pytest collects the suite."""
    tf, _ = require_tensorflow()
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("checks the message a machine without a GPU gets")


def prepared_data() -> PreparedData:
    generator = np.random.default_rng(0)
    inputs = generator.standard_normal((64, FEATURES)).astype(np.float32)
    targets = (np.tanh(inputs[:, :1]) + 0.1 * generator.standard_normal((64, 1))).astype(np.float32)
    return PreparedData(train_inputs=inputs[:48], train_targets=targets[:48], eval_inputs=inputs[48:],
                        eval_targets=targets[48:], record=DatasetRecord(id="tiny", generator_version="test",
                                                                        seed=0, splits={}))


def run_context(device: str = "cpu") -> RunContext:
    return RunContext(workload="mcmc_alpha", scale="smoke", division="closed",
                      hyperparameters={**RULES.hyperparameters.for_scale("smoke"), **HYPERPARAMETERS}, seed=11,
                      device=device, world=SINGLE)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{name: (record, draws)} of one tiny harness run each of the a100 session built on /CPU:0 and
    of the reference, on the same seed."""
    folder = tmp_path_factory.mktemp("mcmc_alpha_a100")
    data, harness = prepared_data(), SamplingHarness(TINY, "smoke")
    on_cpu = SimpleNamespace(create_session=lambda context: session_on(context, "/CPU:0"))
    made = {}
    for name, implementation in (("a100", on_cpu), ("reference", reference)):
        path = folder / f"{name}.draws.nc"
        made[name] = (harness.run(implementation, run_context(), data, path), read_draws(path))
    return made


# hyperparameters


@pytest.mark.parametrize("scale", ["smoke", "small", "full"])
def test_the_defaults_are_within_the_closed_rules_and_leave_chains_to_them(scale):
    assert "chains" not in HYPERPARAMETERS
    values = {**RULES.hyperparameters.for_scale(scale), **HYPERPARAMETERS}
    assert RULES.hyperparameters.violations("closed", values, scale) == []


def test_the_runners_cuda_device_maps_to_tensorflows_gpu():
    assert [tensorflow_device(name) for name in ("cuda:0", "cuda:3", "cuda")] == ["/GPU:0", "/GPU:3", "/GPU:0"]


# the GPU refusal


def test_create_session_refuses_in_one_line_when_tensorflow_sees_no_gpu():
    skip_if_a_gpu_is_visible()
    context = SamplingHarness(TINY, "smoke").context(run_context("cuda:0"), prepared_data())
    with pytest.raises(UserError) as refused:
        create_session(context)
    message = str(refused.value)
    assert "\n" not in message and "sees none" in message and "--device=cpu" in message


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_gpu_check_says_in_one_line_that_it_needs_a_gpu(capsys):
    skip_if_a_gpu_is_visible()
    assert load_script("check_a100_mcmc_alpha").main(["--scale", "smoke"]) == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "needs a GPU" in message


# one tiny run through the harness on the CPU build path


def test_the_harness_keeps_every_draw_of_every_chain_finite(runs):
    record, draws = runs["a100"]
    assert draws.states.shape == (CHAINS, DRAWS, PARAMETERS) and draws.states.dtype == np.float32
    assert draws.target_log_prob.shape == draws.accepted.shape == (CHAINS, DRAWS)
    assert np.all(np.isfinite(draws.states)) and np.all(np.isfinite(draws.target_log_prob))
    assert record.sections["draws"].draws_per_chain == DRAWS
    sampler = record.sections["sampler"]
    assert sampler.chains == CHAINS and sampler.leapfrog_steps == 3 and sampler.adaptation_steps == 8
    assert len(sampler.step_size) == CHAINS and all(size > 0 for size in sampler.step_size)
    assert not np.array_equal(draws.states[0], draws.states[1])  # each chain its own start and path


def test_the_draws_are_the_references_on_the_same_seed(runs):
    (record, draws), (reference_record, reference_draws) = runs["a100"], runs["reference"]
    np.testing.assert_allclose(draws.states, reference_draws.states, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(draws.target_log_prob, reference_draws.target_log_prob, rtol=1e-5)
    np.testing.assert_array_equal(draws.accepted, reference_draws.accepted)
    np.testing.assert_allclose(record.sections["sampler"].step_size, reference_record.sections["sampler"].step_size,
                               rtol=1e-6)


def test_the_session_records_its_device_and_xla(runs):
    tf, tfp = require_tensorflow()
    session = runs["a100"][0].sections["sampler"].session
    assert session == {"framework": f"tensorflow {tf.__version__}, tensorflow-probability {tfp.__version__}",
                       "tf_device": "/CPU:0", "xla": True, "tf32": session["tf32"], "chains_batched": True}
    assert isinstance(session["tf32"], bool)
