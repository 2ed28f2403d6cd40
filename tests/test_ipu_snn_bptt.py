"""The IPU submission of snn_bptt, on CPU: everything but the PopTorch calls themselves.

No IPU or Poplar SDK is available here. The straight-through spike, the traceable network
(against the snnTorch reference and against an independent float64 implementation, wrong
dynamics included, to show the comparison can fail), the loss wrapper, fp16 conversion and
batch arithmetic are tested directly; the thin PopTorch layer against a recorder that only
answers to PopTorch 3.4's names; and the session through a CPU stand-in for that layer.
"""

import copy
import math
import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mlperf_logging.mllog import constants as mlk
from snntorch import surrogate
from torch import nn

from accelbench.contracts.training import TrainingContext
from accelbench.errors import UserError
from accelbench.judging.quality import FIRING_RATE_PREFIX, PRIMARY_OUTPUT
from accelbench.reference.snn_bptt.model import SpikingClassifier, leaky_neuron
from accelbench.reference.snn_bptt.training import SpikingSession, regularized_loss
from accelbench.rules.loader import load_rules
from accelbench.run.devices import Device
from accelbench.run.implementations import resolve_implementation
from accelbench.run.world import SINGLE, World
from accelbench.submissions.ipu import snn_bptt
from accelbench.submissions.ipu.common import poplar as shared_poplar
from accelbench.submissions.ipu.common.plan import IpuPlan
from accelbench.submissions.ipu.snn_bptt import config, poplar
from accelbench.submissions.ipu.snn_bptt.config import SubmissionSettings, device_iterations, plan_for
from accelbench.submissions.ipu.snn_bptt.data import SpikeRasters
from accelbench.submissions.ipu.snn_bptt.network import LeakyState, SpikingNetwork, lif_step
from accelbench.submissions.ipu.snn_bptt.precision import half_synapses, half_weights
from accelbench.submissions.ipu.snn_bptt.session import IpuSpikingSession
from accelbench.submissions.ipu.snn_bptt.spike import arctan_primitive, heaviside, spike
from accelbench.submissions.ipu.snn_bptt.with_loss import WithSpikingLoss

from poptorch_standins import OneIpu, recorder_for

VARIANTS = ("snn_bptt_dense", "snn_bptt_sparse")
SCALES = ("smoke", "small", "full")
ALPHA = 2.0
SHAPE = dict(inputs=12, hidden=10, classes=4, beta=0.95, readout_beta=0.95)
STEPS = 16


def surrogate_slope(x, alpha=ALPHA):
    """snnTorch's atan surrogate, written out: (alpha/2) / (1 + (pi/2 * alpha * x)^2)."""
    return alpha / 2 / (1 + (math.pi / 2 * alpha * x) ** 2)


# --- the straight-through spike -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_spike_forward_is_exactly_the_strict_heaviside_step(dtype):
    tiny = torch.finfo(dtype).tiny
    x = torch.tensor([-math.inf, -1e4, -1.0, -tiny, -0.0, 0.0, tiny, 1e-3, 1.0, 6e4, math.inf],
                     dtype=dtype)
    out = spike(x.clone().requires_grad_())
    assert out.dtype == dtype
    assert torch.equal(out.detach(), torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1], dtype=dtype))
    assert torch.equal(heaviside(x), out.detach())


def test_spike_forward_equals_snntorch_bit_for_bit_on_random_inputs():
    x = torch.randn(10_000, generator=torch.Generator().manual_seed(1)) * 3
    assert torch.equal(spike(x.clone().requires_grad_()).detach(),
                       surrogate.atan(alpha=ALPHA)(x.clone().requires_grad_()).detach())


def test_spike_gradient_is_the_arctan_surrogate_in_float64():
    x = torch.linspace(-4, 4, 2001, dtype=torch.float64).requires_grad_()
    (grad,) = torch.autograd.grad(spike(x).sum(), x)
    assert torch.allclose(grad, surrogate_slope(x.detach()), rtol=1e-13, atol=0)
    assert grad.max() == pytest.approx(ALPHA / 2)  # at x = 0


def test_spike_gradient_matches_snntorchs_own_backward():
    """An independent implementation: snnTorch's autograd.Function, in float32."""
    x = (torch.randn(5000, generator=torch.Generator().manual_seed(2)) * 2).requires_grad_()
    weights = torch.randn(5000, generator=torch.Generator().manual_seed(3))
    (ours,) = torch.autograd.grad((spike(x) * weights).sum(), x)
    (theirs,) = torch.autograd.grad((surrogate.atan(alpha=ALPHA)(x) * weights).sum(), x)
    assert torch.allclose(ours, theirs, rtol=1e-6, atol=0)


def test_the_primitive_is_an_antiderivative_of_the_surrogate():
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    h = 1e-6
    numeric = (arctan_primitive(x + h) - arctan_primitive(x - h)) / (2 * h)
    assert torch.allclose(numeric, surrogate_slope(x), rtol=1e-8, atol=0)


@pytest.mark.parametrize("alpha", [1.0, 2.0, 5.0])
def test_spike_honours_alpha(alpha):
    x = torch.linspace(-2, 2, 101, dtype=torch.float64).requires_grad_()
    (grad,) = torch.autograd.grad(spike(x, alpha).sum(), x)
    assert torch.allclose(grad, surrogate_slope(x.detach(), alpha), rtol=1e-13)


# --- the network against the reference ------------------------------------------------------------


def reference_and_network(seed=0, architecture="feedforward", drive=3.0):
    """The snnTorch reference and the IPU network built from one seed; `drive` scales the input
    weights so that some steps get over twice the threshold (the double-reset case)."""
    torch.manual_seed(seed)
    reference = SpikingClassifier(**SHAPE, architecture=architecture)
    torch.manual_seed(seed)
    ours = SpikingNetwork(**SHAPE, architecture=architecture)
    with torch.no_grad():
        reference.synapses[0].weight.mul_(drive)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def batch(seed=0, rows=8, steps=STEPS, channels=SHAPE["inputs"], rate=0.3):
    generator = torch.Generator().manual_seed(seed)
    spikes = (torch.rand(rows, steps, channels, generator=generator) < rate).to(torch.uint8)
    labels = torch.randint(SHAPE["classes"], (rows,), generator=generator)
    return spikes, labels


def outputs_and_gradients(model, spikes, labels, dtype=torch.float32, target=0.1, strength=100.0):
    model.zero_grad(set_to_none=True)
    output = model(spikes.to(dtype))
    regularized_loss(output, labels, target, strength).backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    return output.logits.detach(), output.firing_rates.detach(), grads


def mismatches(reference, candidate, spikes, labels, *, rtol=1e-4, atol=1e-6):
    """What differs between two networks' logits, rates and parameter gradients (empty: none).
    `reference` is a network, or its (logits, rates, gradients) on these inputs."""
    if isinstance(reference, nn.Module):
        reference = outputs_and_gradients(reference, spikes, labels)
    ref_logits, ref_rates, ref_grads = reference
    logits, rates, grads = outputs_and_gradients(candidate, spikes, labels)
    found = []
    if not torch.equal(logits, ref_logits):
        found.append("logits")
    if not torch.equal(rates, ref_rates):
        found.append("firing rates")
    found += [f"gradient of {name}" for name, grad in ref_grads.items()
              if not torch.allclose(grads[name], grad, rtol=rtol, atol=atol)]
    return found


def double_resets(reference, spikes):
    """Steps of the first hidden layer whose membrane was still above threshold after its reset,
    counted through snnTorch itself."""
    neuron = leaky_neuron(0.95)
    currents = reference.synapses[0](spikes.float()).detach()
    membrane = torch.zeros_like(currents[:, 0])
    count = 0
    for step in range(currents.shape[1]):
        previous = membrane
        _, membrane = neuron(currents[:, step], membrane)
        count += int((previous > 1.0).sum())
    return count


def test_same_seed_same_initial_weights_and_an_interchangeable_state_dict():
    torch.manual_seed(5)
    reference = SpikingClassifier(**SHAPE, architecture="recurrent")
    torch.manual_seed(5)
    ours = SpikingNetwork(**SHAPE, architecture="recurrent")
    theirs, mine = reference.state_dict(), ours.state_dict()
    assert list(mine) == list(theirs)
    for name, value in theirs.items():
        assert mine[name].dtype == value.dtype and torch.equal(mine[name], value), name
    reference.load_state_dict(mine)  # and back


@pytest.mark.parametrize("architecture", ["feedforward", "recurrent"])
def test_logits_rates_and_gradients_match_the_reference_in_float32(architecture):
    reference, ours = reference_and_network(architecture=architecture)
    spikes, labels = batch()
    assert double_resets(reference, spikes) > 0, "the inputs must exercise the double reset"
    assert mismatches(reference, ours, spikes, labels) == []
    rates = ours(spikes).firing_rates
    assert 0 < rates.min() and rates.max() < 1  # spikes happen, and not everywhere


class SurrogateSpike(torch.autograd.Function):
    """An independent spike: a custom Function, as snnTorch's, in any dtype."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * surrogate_slope(x)


def independent_forward(net, spikes):
    """The reference's dynamics from its docstring, with nothing shared with the IPU network."""
    activity = spikes.to(torch.float64)
    rates = []
    for synapse in net.synapses:
        currents = synapse(activity)
        membrane = torch.zeros_like(currents[:, 0])
        out = []
        for t in range(currents.shape[1]):
            r = (membrane > 1.0).to(membrane.dtype)
            u = 0.95 * membrane + currents[:, t] - r
            s = SurrogateSpike.apply(u - 1.0)
            membrane = 0.95 * membrane + currents[:, t] - s
            out.append(s)
        activity = torch.stack(out, dim=1)
        rates.append(activity.mean(dim=(1, 2)))
    currents = net.readout(activity)
    membrane, peaks = torch.zeros_like(currents[:, 0]), []
    for t in range(currents.shape[1]):
        membrane = 0.95 * membrane + currents[:, t]
        peaks.append(membrane)
    return SimpleNamespace(logits=torch.stack(peaks, 1).amax(1), firing_rates=torch.stack(rates, 1))


def test_float64_network_matches_an_independent_implementation():
    _, ours = reference_and_network(seed=3)
    ours.double()
    for neuron in ours.neurons:  # the docstring's exact 0.95, not float32's 0.949999988
        neuron.beta.fill_(0.95)
    ours.readout_neuron.beta.fill_(0.95)
    spikes, labels = batch(seed=4)
    mine = outputs_and_gradients(ours, spikes, labels, torch.float64)
    independent = copy.deepcopy(ours)
    independent.forward = lambda x: independent_forward(independent, x)
    theirs = outputs_and_gradients(independent, spikes, labels, torch.float64)
    assert torch.equal(mine[1], theirs[1])
    assert torch.allclose(mine[0], theirs[0], rtol=1e-12, atol=1e-12)
    for name, grad in theirs[2].items():
        assert torch.allclose(mine[2][name], grad, rtol=1e-9, atol=1e-12), name
    assert mine[0].dtype == torch.float64 and mine[1].dtype == torch.float64


def delayed_reset(membrane, current, beta, threshold):
    """snnTorch's reset_delay=True: the reset waits for the next step."""
    reset = heaviside(membrane - threshold)
    potential = beta * membrane + current - reset * threshold
    return spike(potential - threshold), potential


def detached_reset(membrane, current, beta, threshold):
    """The same forward, but no gradient through the reset."""
    reset = heaviside(membrane - threshold)
    potential = beta * membrane + current - reset * threshold
    fired = spike(potential - threshold)
    return fired, potential - (fired.detach() - reset) * threshold


def reset_to_zero(membrane, current, beta, threshold):
    potential = beta * membrane + current
    fired = spike(potential - threshold)
    return fired, potential * (1 - fired)


def single_reset(membrane, current, beta, threshold):
    """Subtract once, no carried reset: m - thr may stay above threshold and fire again at once."""
    potential = beta * membrane + current
    fired = spike(potential - threshold)
    return fired, potential - fired * threshold


def flatter_surrogate(membrane, current, beta, threshold):
    reset = heaviside(membrane - threshold)
    potential = beta * membrane + current - reset * threshold
    fired = spike(potential - threshold, alpha=1.0)
    return fired, potential - (fired - reset) * threshold


@pytest.mark.parametrize("wrong, differs", [
    (delayed_reset, "logits"),
    (reset_to_zero, "logits"),
    (single_reset, "logits"),
    (detached_reset, "gradient of synapses.0.weight"),
    (flatter_surrogate, "gradient of synapses.0.weight"),
])
def test_wrong_dynamics_are_caught(wrong, differs, reference_results):
    _, ours = reference_and_network()
    ours.step = wrong
    assert differs in mismatches(reference_results, ours, *batch())


@pytest.fixture(scope="module")
def reference_results():
    """The snnTorch reference's outputs and gradients on `batch()`, computed once."""
    reference, _ = reference_and_network()
    return outputs_and_gradients(reference, *batch())


def test_the_double_reset_by_hand():
    """One neuron driven with 2.5 then nothing: it spikes once, stays above threshold without
    spiking while its reset is carried, exactly as snnTorch's Leaky does."""
    beta, threshold = torch.tensor(0.95), torch.tensor(1.0)
    currents = torch.tensor([2.5, 0.0, 0.0, 3.5, 0.0, 0.6, 0.6])
    neuron = leaky_neuron(0.95)
    mine, theirs = torch.zeros(1), torch.zeros(1)
    trace = []
    for current in currents:
        fired, mine = lif_step(mine, current.view(1), beta, threshold)
        expected, theirs = neuron(current.view(1), theirs)
        assert torch.equal(fired, expected) and torch.equal(mine, theirs)
        trace.append((int(fired), float(mine)))
    # Above threshold after the spike, yet silent while the carried reset holds it down.
    assert trace[:3] == [(1, 1.5), (0, pytest.approx(1.425)), (0, pytest.approx(1.35375))]
    assert trace[3][0] == 1 and trace[3][1] > 1.0  # 3.5 on top: one spike, still above


# --- the loss inside forward -----------------------------------------------------------------------


def test_training_returns_the_marked_reference_loss_and_eval_the_outputs():
    _, ours = reference_and_network()
    marked = []
    model = WithSpikingLoss(ours, target_rate=0.01, strength=100.0,
                            identity_loss=lambda loss: marked.append(loss) or loss * 1)
    spikes, labels = batch()
    loss = model(spikes, labels)
    expected = regularized_loss(ours(spikes), labels, 0.01, 100.0)
    assert len(marked) == 1 and loss.shape == () and torch.equal(loss, expected)
    loss.backward()
    assert ours.synapses[0].weight.grad is not None
    model.eval()
    with torch.no_grad():
        outputs = model(spikes, labels)  # labels given, still the outputs alone
        reference = ours(spikes)
    assert len(marked) == 1
    assert isinstance(outputs, tuple) and len(outputs) == 2
    assert torch.equal(outputs[0], reference.logits) and torch.equal(outputs[1], reference.firing_rates)


# --- fp16 ------------------------------------------------------------------------------------------


def test_half_conversion_keeps_neuron_constants_and_state_in_float32():
    _, ours = reference_and_network(architecture="recurrent")
    half_synapses(ours)
    assert all(p.dtype == torch.float16 for p in ours.parameters())
    for module in ours.modules():
        if isinstance(module, LeakyState):
            assert module.threshold.dtype == torch.float32 and module.beta.dtype == torch.float32
            assert module.beta.item() == torch.tensor(0.95).item()  # not fp16's 0.9497
            assert module.reset_mechanism_val.dtype == torch.int64
    currents = []
    ours.synapses[0].register_forward_hook(lambda m, i, o: currents.append(o.dtype))
    spikes, labels = batch()
    model = WithSpikingLoss(ours, target_rate=0.1, strength=100.0)
    loss = model(spikes.half(), labels)
    assert currents == [torch.float16]
    assert loss.dtype == torch.float32
    loss.backward()
    assert ours.synapses[0].weight.grad.dtype == torch.float16
    model.eval()
    logits, rates = model(spikes.half())
    assert logits.dtype == torch.float32 and rates.dtype == torch.float32


def test_half_weights_reads_the_precision():
    assert half_weights("fp16") and not half_weights("fp32")
    with pytest.raises(ValueError):
        half_weights("bf16")


@pytest.mark.parametrize("variant", VARIANTS)
def test_both_variants_resolve_to_this_submission_on_an_ipu(variant):
    ipu = Device("ipu", "ipu", "Graphcore IPU (PopTorch)")
    assert resolve_implementation(load_rules(variant), ipu) is snn_bptt


@pytest.mark.parametrize("variant", VARIANTS)
def test_submission_hyperparameters_stay_in_the_closed_division(variant):
    rules = load_rules(variant)
    assert snn_bptt.HYPERPARAMETERS == {"precision": "fp16"}
    for scale in SCALES:
        chosen = {**rules.hyperparameters.for_scale(scale), **snn_bptt.HYPERPARAMETERS}
        assert rules.hyperparameters.violations("closed", chosen, scale) == [], scale
    assert rules.hyperparameters.violations("closed", {**chosen, "precision": "fp8"}, "full")


# --- batch arithmetic ----------------------------------------------------------------------------------

HYPER = {**load_rules("snn_bptt_dense").hyperparameters.for_scale("smoke"),
         "hidden": SHAPE["hidden"], "batch_size": 16, "precision": "fp32"}
DATA = {"classes": SHAPE["classes"], "channels": SHAPE["inputs"], "steps": STEPS}


def context(train=64, evals=20, seed=3, world=SINGLE, division="closed", **overrides):
    spikes, labels = batch(seed=seed, rows=train + evals)
    return TrainingContext(
        workload="snn_bptt_dense", scale="smoke", division=division,
        hyperparameters={**HYPER, **overrides}, seed=seed, device="ipu", world=world,
        train_inputs=spikes[:train], train_targets=labels[:train], eval_inputs=spikes[train:],
        dataset_parameters=DATA,
    )


@settings(max_examples=300, deadline=None)
@given(steps=st.integers(1, 600), most=st.integers(1, 16))
def test_device_iterations_divide_the_epoch(steps, most):
    chosen = device_iterations(steps, most)
    assert 1 <= chosen <= most and steps % chosen == 0
    assert not any(steps % larger == 0 for larger in range(chosen + 1, most + 1))


@settings(max_examples=100, deadline=None)
@given(batch_size=st.integers(16, 256), batches=st.integers(1, 40), extra=st.integers(0, 255),
       most=st.integers(1, 8), rank=st.integers(0, 3))
def test_a_host_call_is_whole_batches_and_an_epoch_is_the_references(batch_size, batches, extra,
                                                                     most, rank):
    extra %= batch_size
    rows = batches * batch_size + extra
    ctx = SimpleNamespace(hyperparameters={**HYPER, "batch_size": batch_size}, division="closed",
                          train_inputs=range(rows), seed=7, world=World(rank=rank, size=4))
    p = plan_for(ctx, SubmissionSettings(max_device_iterations=most), {})
    assert p.local_batch == batch_size  # constant, whatever the device iterations
    assert p.combined_batch == (batch_size * p.device_iterations * p.replicas_per_process
                                * p.gradient_accumulation)
    assert p.calls_per_epoch(rows) * p.combined_batch == batches * batch_size  # the reference's
    assert p.seed == 7 + rank


def test_gradient_accumulation_only_in_the_open_division():
    split = SubmissionSettings(micro_batch=4)
    with pytest.raises(UserError, match="closed division") as caught:
        plan_for(context(), split, {})
    assert "\n" not in str(caught.value)
    p = plan_for(context(division="open"), split, {})
    assert (p.micro_batch, p.gradient_accumulation, p.local_batch) == (4, 4, 16)
    assert p.combined_batch == 16 * p.device_iterations
    with pytest.raises(UserError, match="not a multiple of the IPU micro-batch 5"):
        plan_for(context(division="open"), SubmissionSettings(micro_batch=5), {})


def test_plan_from_the_context(tmp_path):
    p = plan_for(context(world=World(rank=2, size=4)), config.SETTINGS,
                 {"POPTORCH_CACHE_DIR": str(tmp_path)})
    assert (p.micro_batch, p.gradient_accumulation, p.device_iterations) == (16, 1, 4)  # 64 rows
    assert p.executable_cache_dir == str(tmp_path)
    assert p.fp16 is False  # fp32 run
    assert plan_for(context(precision="fp16"), config.SETTINGS, {}).fp16 is False  # float partials
    assert plan_for(context(precision="fp16"), SubmissionSettings(half_partials=True), {}).fp16


@pytest.mark.parametrize("overrides, words", [
    ({"precision": "bf16"}, "precision=fp16"),
    ({"precision": "tf32"}, "precision=fp32"),
    ({"optimizer": "sgd"}, "optimizer=adam"),
    ({"batch_size": 100}, "smaller than one batch of 100"),
])
def test_plan_refuses_what_the_ipu_cannot_run(overrides, words):
    with pytest.raises(UserError, match=words) as caught:
        plan_for(context(**overrides), config.SETTINGS, {})
    assert "\n" not in str(caught.value)


def test_rasters_stay_uint8_and_are_cast_when_drawn():
    spikes, labels = batch(rows=5)
    rasters = SpikeRasters(spikes, labels, torch.float16)
    x, y = rasters[3]
    assert len(rasters) == 5 and x.dtype == torch.float16 and torch.equal(x, spikes[3].half())
    assert y == labels[3] and rasters.inputs.dtype == torch.uint8
    with pytest.raises(ValueError):
        SpikeRasters(spikes, labels[:4], torch.float16)


# --- the PopTorch layer, against PopTorch 3.4's names ------------------------------------------------

POPTORCH_34 = {
    "poptorch.Options", "poptorch.Options().replicationFactor",
    "poptorch.Options().deviceIterations", "poptorch.Options().Training.gradientAccumulation",
    "poptorch.Options().randomSeed", "poptorch.Options().enableExecutableCaching",
    "poptorch.Options().outputMode", "poptorch.Options().Precision.setPartialsType",
    "poptorch.OutputMode.All", "poptorch.optim.Adam", "poptorch.identity_loss",
    "poptorch.trainingModel", "poptorch.inferenceModel", "poptorch.DataLoader",
    "poptorch.DataLoaderMode.Sync", "poptorch.DataLoaderMode.Async",
    "popdist.poptorch.Options", "popdist.poptorch.Options().deviceIterations",
    "popdist.poptorch.Options().Training.gradientAccumulation",
    "popdist.poptorch.Options().randomSeed", "popdist.poptorch.Options().enableExecutableCaching",
    "popdist.poptorch.Options().outputMode",
}


recorder = recorder_for(POPTORCH_34)


def ipu_plan(**fields):
    base = IpuPlan(micro_batch=128, gradient_accumulation=1, device_iterations=8, seed=42,
                   executable_cache_dir="/tmp/exe", fp16=False)
    return replace(base, **fields)


def test_training_options_make_exactly_the_documented_calls(tmp_path):
    log = []
    poplar.SpikingPopTorch(recorder("poptorch", log)).options(
        ipu_plan(executable_cache_dir=str(tmp_path / "cache")), training=True)
    o = "poptorch.Options()"
    assert log == [
        ("poptorch.Options", (), {}),
        (f"{o}.replicationFactor", (1,), {}),
        (f"{o}.deviceIterations", (8,), {}),
        (f"{o}.Training.gradientAccumulation", (1,), {}),
        (f"{o}.randomSeed", (42,), {}),
        (f"{o}.enableExecutableCaching", (str(tmp_path / "cache"),), {}),
        (f"{o}.outputMode", ("poptorch.OutputMode.All",), {}),
    ]
    assert (tmp_path / "cache").is_dir()
    log.clear()
    poplar.SpikingPopTorch(recorder("poptorch", log)).options(
        ipu_plan(fp16=True, executable_cache_dir=str(tmp_path)), training=False)
    assert [path.rsplit(".", 1)[1] for path, _, _ in log] == [
        "Options", "replicationFactor", "deviceIterations", "randomSeed",
        "enableExecutableCaching", "outputMode", "setPartialsType"]
    assert log[-1][1] == (torch.float16,)


def test_adam_and_the_loss_marker_are_called_as_documented():
    log = []
    layer = poplar.SpikingPopTorch(recorder("poptorch", log))
    layer.adam("params", lr=2e-3, betas=(0.9, 0.999), eps=1e-8)
    loss = torch.tensor(1.5)
    layer.identity_loss(loss)
    assert log == [
        ("poptorch.optim.Adam", ("params",),
         {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
          "accum_type": torch.float32, "first_order_momentum_accum_type": torch.float32,
          "second_order_momentum_accum_type": torch.float32}),
        ("poptorch.identity_loss", (loss,), {"reduction": "none"}),
    ]


def test_executors_and_loader_are_neuron_inverters_calls():
    log = []
    layer = poplar.SpikingPopTorch(recorder("poptorch", log))
    model, options, optimizer, dataset = object(), object(), object(), object()
    layer.training_executor(model, options, optimizer)
    layer.inference_executor(model, options)
    layer.loader(options, dataset, ipu_plan(), asynchronous=False)
    assert log == [
        ("poptorch.trainingModel", (model,), {"options": options, "optimizer": optimizer}),
        ("poptorch.inferenceModel", (model,), {"options": options}),
        ("poptorch.DataLoader", (options, dataset),
         {"batch_size": 128, "shuffle": True, "drop_last": True,
          "auto_distributed_partitioning": False, "mode": "poptorch.DataLoaderMode.Sync"}),
    ]


def test_under_poprun_popdist_sets_the_replication(tmp_path):
    log = []
    layer = poplar.SpikingPopTorch(recorder("poptorch", log), recorder("popdist", log))
    layer.options(ipu_plan(executable_cache_dir=str(tmp_path)), training=True)
    assert log[0] == ("popdist.poptorch.Options", (), {"ipus_per_replica": 1})
    assert not any("replicationFactor" in path for path, _, _ in log)


def test_a_copied_training_module_keeps_the_sdk_layer():
    layer = poplar.SpikingPopTorch(recorder("poptorch", []))
    model = WithSpikingLoss(nn.Linear(1, 1), target_rate=0.1, strength=1.0,
                            identity_loss=layer.identity_loss)
    assert copy.deepcopy(model).identity_loss.__self__ is layer


def test_the_package_imports_without_poptorch_and_says_what_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "poptorch", None)  # import poptorch -> ImportError
    shared_poplar.load.cache_clear()
    try:
        with pytest.raises(UserError) as caught:
            snn_bptt.create_session(context())
    finally:
        shared_poplar.load.cache_clear()
    message = str(caught.value)
    assert "\n" not in message and "poptorch" in message and "Poplar SDK 3.4" in message


# --- the session, through a CPU stand-in for the PopTorch layer ----------------------------------------


class CpuExecutor:
    def __init__(self, model, options, ipu, training):
        self.model, self.plan, self.ipu, self.training = model, options.plan, ipu, training
        self.compiled = False
        self.calls = 0

    def compile(self, *example):
        assert self.model.training == self.training, "traced in the wrong mode"
        self.model(*example)  # the shapes and dtypes must run
        self.compiled = True
        self.ipu.attach(self)

    def isAttachedToDevice(self):  # noqa: N802 (PopTorch's names)
        return self.compiled and self.ipu.holder is self

    def attachToDevice(self):  # noqa: N802
        assert self.compiled
        self.ipu.attach(self)

    def detachFromDevice(self):  # noqa: N802
        self.ipu.detach(self)

    def _check(self, spikes, per_call):
        assert self.isAttachedToDevice(), "run while not attached"
        assert self.model.training == self.training, "run in another mode than compiled"
        assert len(spikes) == per_call, "one compiled batch shape per call"
        self.calls += 1


class CpuTrainer(CpuExecutor):
    """Per call: device_iterations optimizer steps of gradient_accumulation micro-batches; returns
    every micro-batch's loss (OutputMode.All)."""

    def __init__(self, model, options, optimizer, ipu):
        super().__init__(model, options, ipu, training=True)
        self.optimizer = optimizer

    def __call__(self, spikes, labels):
        self._check(spikes, self.plan.combined_batch)
        losses = []
        for step_spikes, step_labels in zip(spikes.split(self.plan.local_batch),
                                            labels.split(self.plan.local_batch)):
            self.optimizer.zero_grad()
            for x, y in zip(step_spikes.split(self.plan.micro_batch),
                            step_labels.split(self.plan.micro_batch)):
                loss = self.model(x, y)
                (loss / self.plan.gradient_accumulation).backward()
                losses.append(loss.detach())
            self.optimizer.step()
        return torch.stack(losses)


class CpuInferencer(CpuExecutor):
    def __call__(self, spikes):
        self._check(spikes, self.plan.inference_batch)
        with torch.no_grad():
            return self.model(spikes)


class HalfWeightsFloatMoments:
    """Adam as the session asks PopTorch for it with fp16 weights: gradients, moments and the
    update in float32, the weights updated in place in fp16 (torch's own Adam keeps fp16 moments
    for fp16 weights, whose eps of 1e-8 and squared gradients flush to zero: NaN at once)."""

    def __init__(self, params, *, lr, betas, eps):
        self.params = list(params)
        self.param_groups = [{"params": self.params, "lr": lr, "betas": betas, "eps": eps}]
        self.moments = [(torch.zeros_like(p, dtype=torch.float32),
                         torch.zeros_like(p, dtype=torch.float32)) for p in self.params]
        self.steps = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        group = self.param_groups[0]
        (beta1, beta2), self.steps = group["betas"], self.steps + 1
        for p, (first, second) in zip(self.params, self.moments):
            grad = p.grad.float()
            first.mul_(beta1).add_(grad, alpha=1 - beta1)
            second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            update = (first / (1 - beta1**self.steps)) / (
                (second / (1 - beta2**self.steps)).sqrt() + group["eps"])
            p.sub_((group["lr"] * update).to(p.dtype))


class CpuPopTorch:
    """The PopTorch layer's interface, run by torch on the host."""

    popdist = None

    def __init__(self):
        self.ipu = OneIpu()
        self.marked = 0

    def options(self, plan, *, training):
        return SimpleNamespace(plan=plan, training=training)

    def adam(self, parameters, *, lr, betas, eps):
        parameters = list(parameters)
        if parameters[0].dtype == torch.float16:
            return HalfWeightsFloatMoments(parameters, lr=lr, betas=betas, eps=eps)
        return torch.optim.Adam(parameters, lr=lr, betas=betas, eps=eps)

    def identity_loss(self, loss):
        self.marked += 1
        return loss

    def training_executor(self, model, options, optimizer):
        return CpuTrainer(model, options, optimizer, self.ipu)

    def inference_executor(self, model, options):
        return CpuInferencer(model, options, self.ipu, training=False)

    def loader(self, options, dataset, plan, asynchronous):
        return torch.utils.data.DataLoader(dataset, batch_size=plan.combined_batch, shuffle=True,
                                           drop_last=True)


def session(**overrides):
    started = IpuSpikingSession(context(**overrides), CpuPopTorch(), config.SETTINGS)
    started.warm_up()
    return started


def test_warm_up_compiles_both_graphs_and_leaves_the_ipu_to_training():
    s = session()
    assert s.trainer.compiled and s.inferencer.compiled
    assert s.poplar.ipu.holder is s.trainer
    assert s.eval_kind == "true"


def test_an_epoch_is_the_references_samples_and_the_mean_loss():
    s = session()
    before = s.network.synapses[0].weight.detach().clone()
    report = s.train_epoch(1)
    assert report.samples == 64  # 64 rows, batches of 16: four steps in one call of 4
    assert s.trainer.calls == 1 and s.plan.device_iterations == 4
    assert math.isfinite(report.train_loss) and report.train_loss > 0
    assert not torch.equal(before, s.network.synapses[0].weight)
    assert s.poplar.marked > 0


def test_a_host_call_trains_exactly_what_the_reference_trains():
    """Same seed, same batches: the session's optimizer steps equal the reference session's."""
    ctx = context()
    ours = IpuSpikingSession(ctx, CpuPopTorch(), config.SETTINGS)
    ours.warm_up()
    reference = SpikingSession(replace(ctx, device="cpu"))
    for name, value in reference.network.state_dict().items():
        assert torch.equal(ours.network.state_dict()[name], value), name
    spikes, labels = ctx.train_inputs, ctx.train_targets
    ours.trainer(spikes.float(), labels)
    for step in range(4):
        rows = slice(16 * step, 16 * (step + 1))
        reference.optimizer.zero_grad()
        output = reference.network(spikes[rows].float())
        regularized_loss(output, labels[rows], reference.target_rate, reference.strength).backward()
        reference.optimizer.step()
    for name, value in reference.network.named_parameters():
        assert torch.allclose(dict(ours.network.named_parameters())[name], value,
                              rtol=1e-4, atol=1e-6), name


def test_true_evaluation_gives_the_references_prediction_format_in_order():
    s = session()
    s.train_epoch(1)
    predictions = s.predict_eval()
    assert set(predictions) == {PRIMARY_OUTPUT, f"{FIRING_RATE_PREFIX}hidden_1",
                                f"{FIRING_RATE_PREFIX}hidden_2"}
    s.network.eval()
    with torch.no_grad():
        expected = s.network(s.eval_inputs.float())
    assert predictions["logits"].shape == (20, SHAPE["classes"])
    assert torch.equal(predictions["logits"], expected.logits)
    for layer in (1, 2):
        rates = predictions[f"{FIRING_RATE_PREFIX}hidden_{layer}"]
        assert rates.shape == (20,) and rates.dtype == torch.float32
        assert torch.equal(rates, expected.firing_rates[:, layer - 1])
    assert s.poplar.ipu.holder is None  # the next run, or training, can attach
    s.train_epoch(2)  # training takes the IPU back
    final = s.predict_final()
    assert s.poplar.ipu.holder is None and set(final) == set(predictions)


def test_an_fp16_session_feeds_half_spikes_into_half_synapses():
    s = session(precision="fp16")
    assert s.dtype == torch.float16
    assert all(p.dtype == torch.float16 for p in s.network.parameters())
    assert s.network.neurons[0].beta.dtype == torch.float32
    report = s.train_epoch(1)
    assert math.isfinite(report.train_loss)
    assert s.predict_eval()["logits"].dtype == torch.float32


def test_logged_hyperparameters():
    logged = session().logged_hyperparameters()
    assert logged[mlk.OPT_NAME] == "adam"
    assert logged[mlk.GLOBAL_BATCH_SIZE] == 16
    assert logged[mlk.GRADIENT_ACCUMULATION_STEPS] == 1
    assert logged[mlk.OPT_BASE_LR] == pytest.approx(HYPER["learning_rate"])


def test_several_processes_need_poprun():
    with pytest.raises(UserError, match="poprun --num-instances 4 --num-replicas 4"):
        IpuSpikingSession(context(world=World(rank=1, size=4, launcher="mpirun")), CpuPopTorch())
