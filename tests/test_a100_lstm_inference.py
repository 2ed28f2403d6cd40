"""The a100 lstm_inference submission: the bucket and padding arithmetic, its closed-rules
defaults, the sample bookkeeping and the reduced-precision numerics on the CPU's eager path; the
CUDA graphs and pinned buffers only where a GPU is present (benchmarks/check_a100_lstm_inference.py
measures them)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from accelbench.contracts.inference import InferenceContext
from accelbench.data.datasets import data_directory
from accelbench.data.model_weights import load_weights, weights_path
from accelbench.errors import UserError
from accelbench.judging.quality import r2
from accelbench.reference.lstm_inference import data, weights
from accelbench.reference.lstm_inference import inference as reference_inference
from accelbench.reference.lstm_inference.model import FEATURES, LSTMRegressor, weights_of
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE
from accelbench.submissions.a100.common.precision import precision_for
from accelbench.submissions.a100.lstm_inference import HYPERPARAMETERS, create_session
from accelbench.submissions.a100.common.buckets import (
    GRAPH_BATCH_SIZES,
    bucket_for,
    graph_buckets,
    padded_rows,
)
from accelbench.submissions.a100.lstm_inference.session import A100LSTMSession

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
RULES = load_rules("lstm_inference")
STEPS = 12  # the model runs on any window length; short ones keep the CPU tests fast
VAL_ROWS = 32  # of the smoke val split: 200-step windows cost about a second per precision on 2 CPU cores
UNIT_ROUNDOFF = {"bf16": 2.0**-8, "fp16": 2.0**-11}
CLOSE = 8
"""Outputs within CLOSE x u (relative, over the batch) of fp32: the weights and the inputs are
rounded once to p bits, and the recurrence contracts (measured on the CPU, torch 2.13: bf16 1.8 u,
fp16 3.0 u with random weights on 12-step windows; 0.4 to 0.5 u with the smoke weights)."""
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def random_weights():
    torch.manual_seed(0)
    return weights_of(LSTMRegressor())


def windows(samples, steps=STEPS, seed=0):
    return np.random.default_rng(seed).standard_normal((samples, steps, FEATURES), dtype=np.float32)


def context(model_weights, precision="fp32", device="cpu", batch_size=16):
    return InferenceContext(
        workload="lstm_inference", scale="smoke", division="closed",
        hyperparameters={**RULES.hyperparameters.for_scale("smoke"), "precision": precision, "batch_size": batch_size},
        seed=0, device=device, world=SINGLE, weights=model_weights, batch_size=batch_size,
    )


def reference_predictions(model_weights, inputs):
    """The fp32 reference session's answers for every row of `inputs`, in order."""
    session = reference_inference.create_session(context(model_weights, batch_size=len(inputs)))
    session.load_samples(range(len(inputs)), inputs)
    return session.predict(range(len(inputs)))


def cpu_session(model_weights, precision="fp32", batch_size=16):
    return A100LSTMSession(model_weights, precision_for(precision), batch_size, torch.device("cpu"))


def relative_error(actual, expected):
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


# buckets


def test_graphs_cover_the_powers_of_two_up_to_64_within_the_batch_size():
    assert graph_buckets(1024) == GRAPH_BATCH_SIZES == (1, 2, 4, 8, 16, 32, 64)
    assert graph_buckets(8) == (1, 2, 4, 8)
    assert graph_buckets(48) == (1, 2, 4, 8, 16, 32)  # an open-division batch size
    assert graph_buckets(1) == (1,)
    assert graph_buckets(1024, ()) == ()


def test_a_request_takes_the_smallest_bucket_that_holds_it_or_runs_eagerly():
    assert [bucket_for(count, GRAPH_BATCH_SIZES) for count in (1, 2, 3, 8, 9, 33, 64, 65, 1024)] == [
        1, 2, 4, 8, 16, 64, 64, None, None]
    assert bucket_for(1, ()) is None


def test_padding_repeats_the_last_row():
    assert padded_rows([7, 3, 5], 4) == [7, 3, 5, 5]
    assert padded_rows([7, 3], 2) == [7, 3]


@given(buckets=st.sets(st.integers(1, 1024), min_size=1, max_size=8),
       rows=st.lists(st.integers(0, 10**6), min_size=1, max_size=1100))
def test_padded_requests_fill_a_bucket_and_keep_their_rows_first(buckets, rows):
    bucket = bucket_for(len(rows), sorted(buckets))
    if len(rows) > max(buckets):
        assert bucket is None
        return
    assert bucket in buckets and bucket >= len(rows)
    assert not [size for size in buckets if len(rows) <= size < bucket]
    padded = padded_rows(rows, bucket)
    assert len(padded) == bucket
    assert padded[: len(rows)] == rows
    assert set(padded[len(rows):]) <= {rows[-1]}


# hyperparameters


@pytest.mark.parametrize("scale", ["smoke", "small", "full"])
def test_the_defaults_are_within_the_closed_rules(scale):
    values = {**RULES.hyperparameters.for_scale(scale), **HYPERPARAMETERS}
    assert RULES.hyperparameters.violations("closed", values, scale) == []


# the session on the CPU


def test_create_session_refuses_a_cpu_device_in_one_line(random_weights):
    with pytest.raises(UserError) as refused:
        create_session(context(random_weights, "fp16"))
    assert "\n" not in str(refused.value) and "--device=a100" in str(refused.value)


def test_predictions_come_back_in_the_order_asked_across_loads_and_unloads(random_weights):
    inputs = windows(6)
    expected = reference_predictions(random_weights, inputs)
    session = cpu_session(random_weights)
    session.load_samples([5, 3, 9, 1], inputs[:4])
    answered = session.predict([9, 5, 1])
    assert answered.dtype == np.float32 and answered.shape == (3, 1)
    np.testing.assert_allclose(answered, expected[[2, 0, 3]], rtol=1e-5, atol=1e-6)
    session.unload_samples([5, 9])
    with pytest.raises(KeyError):
        session.predict([5])
    session.load_samples([5, 7], inputs[4:6])  # 5 comes back with other data
    np.testing.assert_allclose(session.predict([7, 3, 5, 1]), expected[[5, 1, 4, 3]], rtol=1e-5, atol=1e-6)
    assert len(session.samples) == 4  # unloading freed the rows
    session.unload_samples([1, 3, 5, 7])
    assert session.rows == {} and len(session.samples) == 0


def test_the_cpu_path_warms_up_without_graphs_and_says_so(random_weights):
    session = cpu_session(random_weights, "bf16", batch_size=4)
    session.warm_up(windows(4))
    assert session.graphs == {}
    assert not session.host_rows.is_pinned()
    assert session.logged_hyperparameters() == {
        "precision": "bf16", "framework": f"torch {torch.__version__}",
        "cuda_graphs": False, "cuda_graph_batch_sizes": ""}


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_weights_and_samples_stay_close_to_fp32(random_weights, precision):
    inputs = windows(16)
    session = cpu_session(random_weights, precision)
    session.load_samples(range(16), inputs)
    dtype = precision_for(precision).dtype
    assert session.model.lstm.weight_hh_l1.dtype == dtype and session.samples.dtype == dtype
    error = relative_error(session.predict(range(16)), reference_predictions(random_weights, inputs))
    assert 0 < error <= CLOSE * UNIT_ROUNDOFF[precision]


@pytest.fixture(scope="module")
def served():
    """(weights, val windows, val targets): the smoke scale's served weights and the first
    VAL_ROWS of its val split when they are generated (this test generates nothing), else a model
    trained for 8 steps on simulated 30-step windows (its R^2 is 0.39 already; about a second)."""
    directory = data_directory(RULES, "smoke")
    if weights_path(directory, "lstm_inference").is_file():
        val = data.load(directory, ("val",))["val"]
        return load_weights(RULES, "smoke", directory), val.inputs[:VAL_ROWS], val.targets[:VAL_ROWS]
    model = data.factor_model(RULES.dataset.seed, **{**RULES.dataset.parameters_for("smoke"), "steps": 30})
    generator = np.random.default_rng(0)
    train_inputs, train_targets = model.simulate(256, generator)
    val_inputs, val_targets = model.simulate(VAL_ROWS, generator)
    trained = weights.train(train_inputs, train_targets, seed=0, epochs=1, batch_size=32, learning_rate=0.004,
                            train_window=20)
    return trained, val_inputs, val_targets


@pytest.fixture(scope="module")
def reference_answers(served):
    """The fp32 reference's predictions of the served windows and their R^2."""
    model_weights, inputs, targets = served
    expected = reference_predictions(model_weights, inputs)
    return expected, r2(expected, targets)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_keeps_the_accuracy_gate(served, reference_answers, precision):
    model_weights, inputs, targets = served
    expected, expected_r2 = reference_answers
    session = cpu_session(model_weights, precision, batch_size=len(inputs))
    session.load_samples(range(len(inputs)), inputs)
    answered = session.predict(range(len(inputs)))
    assert relative_error(answered, expected) <= CLOSE * UNIT_ROUNDOFF[precision]
    assert expected_r2 > 0.3  # a model worth gating on
    assert r2(answered, targets) >= RULES.inference.accuracy_fraction * expected_r2


# the GPU check script


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a machine without CUDA gets")
def test_the_gpu_check_says_in_one_line_that_it_needs_cuda(capsys):
    assert load_script("check_a100_lstm_inference").main([]) == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "CUDA GPU" in message


# CUDA only


@needs_cuda
def test_create_session_claims_the_gpu_with_cudnn_autotuning(random_weights):
    session = create_session(context(random_weights, "fp16", device="cuda"))
    assert session.device.type == "cuda" and session.device.index is not None
    assert torch.backends.cudnn.benchmark
    assert session.host_rows.is_pinned() and session.host_outputs.is_pinned()
    assert session.samples.device == session.device and session.samples.dtype == torch.float16


@needs_cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_graphs_answer_as_the_eager_path_and_the_reference_do(random_weights, precision):
    inputs = windows(160)
    expected = reference_predictions(random_weights, inputs)
    device = torch.device("cuda", torch.cuda.current_device())
    graphed = A100LSTMSession(random_weights, precision_for(precision), 128, device)
    eager = A100LSTMSession(random_weights, precision_for(precision), 128, device, graph_batch_sizes=())
    for session in (graphed, eager):
        session.warm_up(inputs[:128])
        session.load_samples(range(160), inputs)
    assert tuple(graphed.graphs) == (1, 2, 4, 8, 16, 32, 64) and eager.graphs == {}
    assert graphed.logged_hyperparameters()["cuda_graph_batch_sizes"] == "1,2,4,8,16,32,64"
    order = np.random.default_rng(1).permutation(160)
    for count in (1, 3, 8, 33, 64, 100, 128):  # 100 and 128 run eagerly in both
        indices = [int(index) for index in order[:count]]
        answered = graphed.predict(indices)
        assert answered.shape == (count, 1)
        bound = CLOSE * UNIT_ROUNDOFF[precision]
        assert relative_error(answered, eager.predict(indices)) <= bound
        assert relative_error(answered, expected[indices]) <= bound
