"""The IPU submission of lstm_inference, on CPU: everything but the PopTorch calls themselves.

No IPU or Poplar SDK is available here. The single-layer LSTM stack is compared with the
reference on the same weights (fp32, and fp16 since CPU torch runs half LSTMs), the plan and the
request batching are tested directly, the PopTorch calls against a recorder that only answers to
PopTorch 3.4's names, and the session end to end through a CPU stand-in for the PopTorch layer
that enforces what an IPU would (one executor attached at a time, one input shape and dtype per
compiled executor, device_iterations passes of micro_batch samples per host call).
"""

import functools
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from accelbench.contracts.inference import InferenceContext
from accelbench.errors import UserError
from accelbench.reference.lstm_inference.model import LSTMRegressor, model_from_weights, weights_of
from accelbench.rules.loader import load_rules
from accelbench.run.devices import Device
from accelbench.run.implementations import resolve_implementation
from accelbench.run.world import SINGLE
from accelbench.submissions.ipu import lstm_inference
from accelbench.submissions.ipu.common import poplar as shared_poplar
from accelbench.submissions.ipu.common.plan import IpuPlan
from accelbench.submissions.ipu.common.serving import executor_for, host_calls
from accelbench.submissions.ipu.lstm_inference.config import SubmissionSettings, plan_for
from accelbench.submissions.ipu.lstm_inference.model import (
    SingleLayerLstmStack,
    single_layer_weights,
    stack_from_weights,
)
from accelbench.submissions.ipu.lstm_inference.session import IpuLstmSession

from poptorch_standins import OneIpu, recorder_for

RULES = load_rules("lstm_inference")
SCALES = ("smoke", "small", "full")
STEPS, FEATURES = 200, 16
SHORT = 20  # steps of the session's windows: the model takes any length, and CPU time is short
SMALL = SubmissionSettings(micro_batch=4)  # batch_size 8: host calls of 2 passes of 4


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The LSTMs' 200 small sequential steps run faster on one thread than on contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def reference_weights(seed=0):
    torch.manual_seed(seed)
    return weights_of(LSTMRegressor())


WEIGHTS = reference_weights()


def windows(rows, seed=1, steps=STEPS):
    return torch.randn(rows, steps, FEATURES, generator=torch.Generator().manual_seed(seed))


def reference_outputs(inputs, weights=WEIGHTS):
    with torch.no_grad():
        return model_from_weights(weights)(inputs)


def context(batch_size=8, precision="fp32", weights=WEIGHTS):
    return InferenceContext(
        workload="lstm_inference", scale="smoke", division="closed",
        hyperparameters={"precision": precision, "batch_size": batch_size}, seed=3, device="ipu",
        world=SINGLE, weights=weights, batch_size=batch_size,
    )


# --- the model PopTorch compiles, against the reference -------------------------------------------


def test_the_stack_has_only_recurrent_layers_poptorch_supports():
    lstms = [module for module in SingleLayerLstmStack().modules() if isinstance(module, nn.LSTM)]
    assert len(lstms) == 2
    for lstm in lstms:
        assert lstm.num_layers == 1 and not lstm.bidirectional and lstm.dropout == 0 and lstm.bias
        assert not lstm.batch_first  # time-major, as the reference


def test_the_weight_mapping_renames_every_reference_array_once_and_copies_nothing():
    mapped = single_layer_weights(WEIGHTS)
    assert set(mapped) == set(SingleLayerLstmStack().state_dict())
    assert sorted(map(id, mapped.values())) == sorted(map(id, WEIGHTS.values()))
    assert mapped["lower.weight_ih_l0"] is WEIGHTS["lstm.weight_ih_l0"]
    assert mapped["upper.weight_hh_l0"] is WEIGHTS["lstm.weight_hh_l1"]
    assert mapped["upper.bias_ih_l0"] is WEIGHTS["lstm.bias_ih_l1"]
    assert mapped["head.weight"] is WEIGHTS["head.weight"]


def test_the_weight_mapping_refuses_names_the_reference_does_not_have():
    with pytest.raises(ValueError, match="lstm.weight_ih_l2"):
        single_layer_weights({**WEIGHTS, "lstm.weight_ih_l2": WEIGHTS["lstm.weight_hh_l1"]})


@pytest.mark.parametrize("rows", [1, 4])
def test_the_stack_computes_the_reference_in_float32(rows):
    inputs = windows(rows)
    stack = stack_from_weights(WEIGHTS, half=False)
    with torch.no_grad():
        outputs = stack(inputs)
    assert outputs.shape == (rows, 1) and outputs.dtype == torch.float32
    torch.testing.assert_close(outputs, reference_outputs(inputs), rtol=0, atol=1e-5)


def test_a_wrong_mapping_would_be_caught():
    """Swapping the two layers' recurrent weights (same shapes) moves the outputs far past the
    tolerance, so the comparison above can fail."""
    swapped = {**WEIGHTS, "lstm.weight_hh_l0": WEIGHTS["lstm.weight_hh_l1"],
               "lstm.weight_hh_l1": WEIGHTS["lstm.weight_hh_l0"]}
    inputs = windows(4, steps=SHORT)
    with torch.no_grad():
        outputs = stack_from_weights(swapped, half=False)(inputs)
    assert (outputs - reference_outputs(inputs)).abs().max() > 1e-3


def test_the_fp16_stack_is_half_throughout_and_close_to_the_reference():
    inputs = windows(4)
    stack = stack_from_weights(WEIGHTS, half=True)
    assert all(parameter.dtype == torch.float16 for parameter in stack.parameters())
    with torch.no_grad():
        outputs = stack(inputs.half())
    assert outputs.dtype == torch.float16
    expected = reference_outputs(inputs)
    assert (outputs.float() - expected).abs().max() <= 0.01 * expected.abs().max()


# --- the plan --------------------------------------------------------------------------------------


def test_the_default_plan(tmp_path):
    hp = {**RULES.hyperparameters.for_scale("full"), **lstm_inference.HYPERPARAMETERS}
    plan = plan_for(context(batch_size=hp["batch_size"], precision=hp["precision"]),
                    environ={"POPTORCH_CACHE_DIR": str(tmp_path)})
    latency, throughput = plan.executors
    assert (latency.micro_batch, latency.device_iterations) == (1, 1)
    assert (throughput.micro_batch, throughput.device_iterations) == (256, 4)
    assert throughput.inference_batch == hp["batch_size"]
    assert plan.half and latency.fp16 and throughput.fp16  # fp16 partials
    assert {p.gradient_accumulation for p in plan.executors} == {1}
    assert {p.executable_cache_dir for p in plan.executors} == {str(tmp_path)}


@pytest.mark.parametrize("batch_size, shapes", [
    (1, [(1, 1)]),  # the latency executor is the throughput one
    (2, [(1, 1), (2, 1)]),
    (128, [(1, 1), (128, 1)]),
    (512, [(1, 1), (256, 2)]),
])
def test_small_batches_make_fewer_or_shorter_executors(batch_size, shapes):
    plan = plan_for(context(batch_size=batch_size))
    assert [(p.micro_batch, p.device_iterations) for p in plan.executors] == shapes
    assert not plan.half and not any(p.fp16 for p in plan.executors)


def test_fp32_partials_can_be_kept_in_fp16_runs():
    plan = plan_for(context(precision="fp16"), SubmissionSettings(half_partials=False))
    assert plan.half and not any(p.fp16 for p in plan.executors)


@pytest.mark.parametrize("overrides, words", [
    ({"precision": "bf16"}, "precision 'bf16' is not available on the IPU: use --hparam precision=fp16 or"),
    ({"precision": "tf32"}, "--hparam precision=fp32"),
    ({"batch_size": 300}, r"batch_size 300 is not a multiple of the IPU micro-batch 256: .*--hparam batch_size=256\)"),
])
def test_the_plan_refuses_what_the_ipu_submission_does_not_run(overrides, words):
    with pytest.raises(UserError, match=words) as caught:
        plan_for(context(**overrides))
    assert "\n" not in str(caught.value)


def test_submission_hyperparameters_stay_in_the_closed_division():
    assert {k: lstm_inference.HYPERPARAMETERS[k] for k in ("precision", "batch_size")} == {
        "precision": "fp16", "batch_size": 1024}
    for scale in SCALES:
        chosen = {**RULES.hyperparameters.for_scale(scale), **lstm_inference.HYPERPARAMETERS}
        assert RULES.hyperparameters.violations("closed", chosen, scale) == [], scale


def test_the_workload_resolves_to_this_submission_on_an_ipu():
    ipu = Device("ipu", "ipu", "Graphcore IPU (PopTorch)")
    assert resolve_implementation(RULES, ipu) is lstm_inference


# --- cutting requests into host calls ---------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.integers(0, 50), max_size=120), per_call=st.integers(1, 40))
def test_host_calls_answer_every_row_once_in_order_and_pad_only_the_end(rows, per_call):
    calls = host_calls(rows, per_call)
    assert len(calls) == -(-len(rows) // per_call)  # the fewest
    assert all(len(call) == per_call for call in calls)
    flat = [row for call in calls for row in call]
    assert flat[:len(rows)] == rows
    padding = flat[len(rows):]
    assert len(padding) < per_call  # all of it in the last call
    assert set(padding) <= set(rows)  # real samples, so the padded passes compute normally


def plan(micro_batch, device_iterations):
    return IpuPlan(micro_batch=micro_batch, gradient_accumulation=1, device_iterations=device_iterations,
                   seed=0, executable_cache_dir="/tmp/exe", fp16=True)


def test_single_samples_go_to_the_latency_executor_and_the_rest_to_the_throughput_one():
    both = (plan(1, 1), plan(256, 4))
    assert executor_for(1, both) == 0
    assert [executor_for(samples, both) for samples in (2, 8, 1023, 1024, 5000)] == [1] * 5
    assert executor_for(1, (plan(1, 1),)) == executor_for(7, (plan(1, 1),)) == 0


# --- the PopTorch calls, against PopTorch 3.4's names ---------------------------------------------

POPTORCH_34 = {
    "poptorch.Options", "poptorch.Options().replicationFactor", "poptorch.Options().deviceIterations",
    "poptorch.Options().randomSeed", "poptorch.Options().enableExecutableCaching",
    "poptorch.Options().outputMode", "poptorch.Options().Precision.setPartialsType", "poptorch.OutputMode.All",
    "poptorch.inferenceModel", "poptorch.inferenceModel().compile", "poptorch.inferenceModel().attachToDevice",
    "poptorch.inferenceModel().detachFromDevice",
}


recorder = recorder_for(POPTORCH_34)


def test_the_session_makes_exactly_the_documented_poptorch_calls(tmp_path, monkeypatch):
    monkeypatch.setenv("POPTORCH_CACHE_DIR", str(tmp_path / "cache"))
    log = []
    session = IpuLstmSession(context(precision="fp16", batch_size=1024), shared_poplar.PopTorch(recorder("poptorch", log)))
    o = "poptorch.Options()"

    def options(device_iterations):
        return [
            ("poptorch.Options", (), {}),
            (f"{o}.replicationFactor", (1,), {}),
            (f"{o}.deviceIterations", (device_iterations,), {}),
            (f"{o}.randomSeed", (3,), {}),
            (f"{o}.enableExecutableCaching", (str(tmp_path / "cache"),), {}),
            (f"{o}.outputMode", ("poptorch.OutputMode.All",), {}),
            (f"{o}.Precision.setPartialsType", (torch.float16,), {}),
        ]

    executor = ("poptorch.inferenceModel", (session.model,), {"options": o})
    assert log == [*options(1), executor, *options(4), executor]
    assert (tmp_path / "cache").is_dir()

    log.clear()
    session.warm_up(windows(3).numpy())
    e = "poptorch.inferenceModel()"
    assert [path for path, _, _ in log] == [f"{e}.compile", f"{e}.detachFromDevice", f"{e}.compile"]
    examples = [args[0] for path, args, _ in log if path.endswith("compile")]
    assert [tuple(example.shape) for example in examples] == [(1, STEPS, FEATURES), (1024, STEPS, FEATURES)]
    assert all(example.dtype == torch.float16 and example.is_contiguous() for example in examples)


def test_the_package_imports_without_poptorch_and_says_what_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "poptorch", None)  # import poptorch -> ImportError
    shared_poplar.load.cache_clear()
    try:
        with pytest.raises(UserError) as caught:
            lstm_inference.create_session(context(precision="fp16", batch_size=1024))
    finally:
        shared_poplar.load.cache_clear()
    message = str(caught.value)
    assert "\n" not in message and "poptorch" in message and "Poplar SDK 3.4" in message


# --- the session, through a CPU stand-in for the PopTorch layer --------------------------------------


class CpuInferencer:
    """A compiled PopTorch inference executor, on the host: the input shape and dtype are fixed
    at compile time, and a host call runs device_iterations passes of micro_batch samples and
    returns every pass's outputs (OutputMode.All)."""

    def __init__(self, model, options, ipu):
        self.model, self.plan, self.ipu = model, options.plan, ipu
        self.example = None
        self.calls = 0

    def compile(self, example):
        assert self.example is None, "compiled twice"
        assert not self.model.training
        self.ipu.attach(self)  # ConnectionType.Always: compiling attaches
        self.example = example

    def attachToDevice(self):  # PopTorch's names
        assert self.example is not None, "attached before compiling"
        self.ipu.attach(self)

    def detachFromDevice(self):
        self.ipu.detach(self)

    def __call__(self, windows):
        assert self.ipu.holder is self, "run while another executor holds the IPU"
        assert windows.shape == self.example.shape and windows.dtype == self.example.dtype, "not the compiled shape"
        assert windows.is_contiguous(), "PopTorch wants contiguous graph inputs"
        self.calls += 1
        with torch.no_grad():
            return torch.cat([self.model(micro) for micro in windows.split(self.plan.micro_batch)])


class CpuPopTorch:
    """The PopTorch layer's interface, run by torch on the host."""

    poptorch = SimpleNamespace(__version__="3.4.0+cpu-stand-in")
    popdist = None

    def __init__(self):
        self.ipu = OneIpu()

    def options(self, plan, *, training):
        assert not training
        return SimpleNamespace(plan=plan)

    def inference_executor(self, model, options):
        return CpuInferencer(model, options, self.ipu)


INDICES = [40 + 3 * row for row in range(12)]
INPUTS = windows(12, seed=5, steps=SHORT)


def session(precision="fp32", batch_size=8, settings_=SMALL):
    started = IpuLstmSession(context(batch_size=batch_size, precision=precision), CpuPopTorch(), settings_)
    started.load_samples(INDICES, INPUTS.numpy())
    started.warm_up(INPUTS[:3].numpy())
    return started


@functools.cache
def reference_for_inputs():
    return reference_outputs(INPUTS).numpy()


def expected(indices):
    return reference_for_inputs()[[INDICES.index(index) for index in indices]]


def tolerance(precision):
    return 1e-5 if precision == "fp32" else 1e-2 * float(np.abs(reference_for_inputs()).max())


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_predictions_are_the_references_in_order_through_both_executors(precision):
    s = session(precision)
    latency, throughput = s.executors
    assert s.samples.dtype == s.dtype == (torch.float16 if precision == "fp16" else torch.float32)
    assert s.samples.is_contiguous() and s.samples.shape == (12, SHORT, FEATURES)
    assert s.poplar.ipu.holder is throughput  # compiled last
    requests = [
        [INDICES[5]],  # SingleStream: the latency executor
        [INDICES[i] for i in (7, 2, 2, 11, 0)],  # a padded host call, a repeated sample
        INDICES[:8],  # one whole host call
        INDICES[::-1],  # more than one host call
        [INDICES[9]],
    ]
    for request in requests:
        predictions = s.predict(request)
        assert predictions.shape == (len(request), 1) and predictions.dtype == np.float32
        np.testing.assert_allclose(predictions, expected(request), rtol=0, atol=tolerance(precision))
    assert (latency.calls, throughput.calls) == (2, 4)
    assert s.poplar.ipu.holder is latency


def test_one_executor_serves_everything_at_batch_size_one():
    s = session(batch_size=1)
    (only,) = s.executors
    for index in (INDICES[3], INDICES[0], INDICES[3]):
        np.testing.assert_allclose(s.predict([index]), expected([index]), rtol=0, atol=1e-5)
    assert only.calls == 3 and s.poplar.ipu.holder is only


def test_unloaded_samples_are_gone_and_the_rest_still_answer_correctly():
    s = session()
    dropped = INDICES[4:10]
    s.unload_samples(dropped)
    kept = [index for index in INDICES if index not in dropped]
    assert s.samples.shape == (len(kept), SHORT, FEATURES) and s.samples.is_contiguous()
    np.testing.assert_allclose(s.predict(kept[::-1]), expected(kept[::-1]), rtol=0, atol=1e-5)
    with pytest.raises(KeyError):
        s.predict([dropped[0]])
    s.load_samples(dropped[:2], INPUTS[4:6].numpy())
    np.testing.assert_allclose(s.predict(dropped[:2]), expected(dropped[:2]), rtol=0, atol=1e-5)


def test_predict_before_warm_up_says_so():
    s = IpuLstmSession(context(), CpuPopTorch(), SMALL)
    s.load_samples(INDICES, INPUTS.numpy())
    with pytest.raises(RuntimeError, match="warm_up"):
        s.predict(INDICES[:2])


def test_logged_hyperparameters():
    assert session("fp16").logged_hyperparameters() == {
        "precision": "fp16", "micro_batch": 4, "device_iterations": 2, "half_partials": True,
        "latency_micro_batch": 1, "framework": "poptorch 3.4.0+cpu-stand-in",
    }
    assert "latency_micro_batch" not in session(batch_size=1).logged_hyperparameters()
