"""The a100 snn_bptt submission, on the CPU: the custom LIF autograd function against autograd
through snnTorch, event-driven against dense propagation, the fast network against the
reference network, the session, the rules, and the GPU scripts run on the CPU. What is
CUDA-only (the compiled LIF blocks, TF32, fused Adam, NCCL) the GPU check covers."""

import copy
import importlib.util
import math
import os
import socket
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from snntorch import surrogate
from torch.nn import functional

from accelbench.contracts.training import TrainingContext
from accelbench.judging.quality import FIRING_RATE_PREFIX, PRIMARY_OUTPUT
from accelbench.reference.snn_bptt import training as reference_training
from accelbench.reference.snn_bptt.model import SURROGATE_ALPHA, SpikingClassifier, leaky_neuron
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE, World
from accelbench.submissions.a100.common.precision import precision_for
from accelbench.submissions.a100.snn_bptt import HYPERPARAMETERS, create_session, sparse
from accelbench.submissions.a100.snn_bptt import lif as lif_module
from accelbench.submissions.a100.snn_bptt.lif import lif, lif_step, neuron_constants
from accelbench.submissions.a100.snn_bptt.model import FastSpikingClassifier, decay_matrix

from conftest import REPO

RULES = load_rules("snn_bptt_dense")
DATA = RULES.dataset.parameters_for("smoke")  # 5 classes, 32 channels, 40 steps
HYPER = {**RULES.hyperparameters.for_scale("smoke"), "hidden": 32, "batch_size": 16, "eval_batch_size": 24}
STEPS = 20  # the network does not depend on the rasters' length: shorter ones keep the tests fast


@pytest.fixture(autouse=True)
def one_thread():
    """On a busy small machine OpenMP threads wait on descheduled siblings: one is faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# the LIF function against autograd through snnTorch


class DtypePreservingATan(surrogate.ATan):
    """snnTorch's arctan surrogate, its backward inherited unchanged, with a forward that keeps
    the membrane's dtype: snnTorch's returns float32 spikes, which rounds the gradients that
    flow through the reset to float32 and would cap a float64 comparison at ~1e-7."""

    @staticmethod
    def forward(ctx, input_, alpha):
        ctx.save_for_backward(input_)
        ctx.alpha = alpha
        return (input_ > 0).to(input_.dtype)


def float64_neuron(beta=0.95):
    neuron = leaky_neuron(beta)
    neuron.spike_grad = lambda shifted: DtypePreservingATan.apply(shifted, SURROGATE_ALPHA)
    return neuron


def strong_currents(batch=6, steps=50, neurons=12, dtype=torch.float64, seed=0):
    """Currents around the threshold, some steps over twice it: the double-reset case."""
    generator = torch.Generator().manual_seed(seed)
    currents = torch.randn(batch, steps, neurons, generator=generator, dtype=dtype) * 1.2 + 0.5
    currents[0, 10:14] = 2.6
    currents[1, 20, :4] = 5.0
    return currents


def snntorch_run(neuron, currents):
    """Spikes (via the reference's layer loop) and membranes after each step, with autograd."""
    spikes = SpikingClassifier._layer(currents, neuron, None)
    membrane, membranes = torch.zeros_like(currents[:, 0]), []
    with torch.no_grad():
        for step in range(currents.shape[1]):
            _, membrane = neuron(currents[:, step], membrane)
            membranes.append(membrane)
    return spikes, torch.stack(membranes, dim=1)


def lif_agrees_with_snntorch(beta_used, reference_beta=0.95):
    """(spikes identical, max |dL/dI difference|) of `lif` at `beta_used` against snnTorch at
    `reference_beta`, float64, for L = a fixed random weighting of the spikes."""
    currents = strong_currents()
    weights = torch.randn(currents.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    theirs_in, ours_in = currents.clone().requires_grad_(), currents.clone().requires_grad_()
    theirs, _ = snntorch_run(float64_neuron(reference_beta), theirs_in)
    _, threshold = neuron_constants(leaky_neuron(reference_beta))
    ours = lif(ours_in, beta_used, threshold)
    (theirs * weights).sum().backward()
    (ours * weights).sum().backward()
    return torch.equal(ours, theirs), float((ours_in.grad - theirs_in.grad).abs().max())


def test_lif_matches_snntorch_in_float64_double_resets_included():
    neuron = float64_neuron()
    currents = strong_currents()
    spikes, membranes = snntorch_run(neuron, currents)
    assert (membranes > 1.0).any(), "no membrane above threshold after its reset: no double reset tested"
    assert spikes.dtype == torch.float64 and 0.05 < spikes.mean() < 0.9

    beta, threshold = neuron_constants(neuron)
    identical, gradient_error = lif_agrees_with_snntorch(beta)
    assert identical
    assert gradient_error < 1e-10

    # the membrane, step by step through the same update
    membrane = reset = torch.zeros_like(currents[:, 0])
    ours = []
    for step in range(currents.shape[1]):
        membrane, reset, _, _ = lif_step(membrane, reset, currents[:, step], beta, threshold)
        ours.append(membrane)
    assert torch.equal(torch.stack(ours, dim=1), membranes)


def test_lif_matches_unmodified_snntorch_to_its_float32_spike_gradients():
    """Through snnTorch's own float32-spike surrogate the reset's gradient path is rounded to
    float32: agreement at that level, not better."""
    currents = strong_currents()
    theirs_in, ours_in = currents.clone().requires_grad_(), currents.clone().requires_grad_()
    neuron = leaky_neuron(0.95)
    theirs, _ = snntorch_run(neuron, theirs_in)
    ours = lif(ours_in, *neuron_constants(neuron))
    assert torch.equal(ours, theirs.double())
    weights = torch.randn(currents.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (theirs * weights).sum().backward()
    (ours * weights).sum().backward()
    torch.testing.assert_close(ours_in.grad, theirs_in.grad, rtol=1e-5, atol=1e-5)


def test_the_lif_check_fails_for_a_wrong_beta():
    identical, gradient_error = lif_agrees_with_snntorch(beta_used=0.9)
    assert not identical
    assert gradient_error > 1e-3


def test_lif_spikes_are_bit_identical_to_snntorch_in_float32():
    currents = strong_currents(dtype=torch.float32, batch=16, steps=100, neurons=64, seed=2)
    neuron = leaky_neuron(0.95)
    with torch.no_grad():
        theirs = SpikingClassifier._layer(currents, neuron, None)
        assert torch.equal(lif(currents, *neuron_constants(neuron)), theirs)


def test_blocked_time_major_and_inference_loops_agree(monkeypatch):
    """The CUDA path splits time into blocks (here eager, 10 blocks of 5 steps) and the model
    passes time-major currents; neither changes a spike, and gradients only by reassociation."""
    currents = strong_currents()
    weights = torch.randn(currents.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def run(time_dim):
        x = currents.clone().requires_grad_()
        spikes = lif(x if time_dim == 1 else x.transpose(0, 1), 0.95, 1.0, time_dim=time_dim)
        spikes = spikes if time_dim == 1 else spikes.transpose(0, 1)
        (spikes * weights).sum().backward()
        return spikes, x.grad

    whole, whole_grad = run(1)
    monkeypatch.setitem(lif_module.LOOPS._loops, ("cpu", False), lif_module.Loops(False, 5))
    assert len(lif_module.LOOPS.for_device(torch.device("cpu")).blocks(50)) == 10
    for time_dim in (1, 0):
        spikes, grad = run(time_dim)
        assert torch.equal(spikes, whole)
        torch.testing.assert_close(grad, whole_grad, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        assert torch.equal(lif(currents, 0.95, 1.0), whole)


# event-driven propagation


@pytest.mark.parametrize("spike_grad", [False, True])
def test_event_propagation_equals_the_dense_product(spike_grad):
    generator = torch.Generator().manual_seed(4)
    spikes = (torch.rand(8, 30, 20, generator=generator) < 0.05).float()
    weight = torch.randn(16, 20, generator=generator)
    bias = torch.randn(16, generator=generator)
    upstream = torch.randn(8, 30, 16, generator=generator)
    results = []
    for propagate in (functional.linear, sparse.event_linear):
        s = spikes.clone().requires_grad_(spike_grad)
        w, b = weight.clone().requires_grad_(), bias.clone().requires_grad_()
        out = propagate(s, w, b)
        out.backward(upstream)
        results.append((out, w.grad, b.grad, s.grad))
    (dense, dense_w, dense_b, dense_s), (events, events_w, events_b, events_s) = results
    torch.testing.assert_close(events, dense, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(events_w, dense_w, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(events_b, dense_b, rtol=1e-6, atol=1e-5)
    if spike_grad:
        torch.testing.assert_close(events_s, dense_s, rtol=1e-6, atol=1e-5)
    else:
        assert events_s is None


def test_linear_events_chooses_by_density(monkeypatch):
    spikes = (torch.rand(4, 10, 50, generator=torch.Generator().manual_seed(5)) < 0.02).float()
    weight, bias = torch.randn(8, 50), torch.randn(8)
    used = []
    monkeypatch.setattr(sparse, "event_linear", lambda *a: used.append("events") or functional.linear(*a))
    sparse.linear_events(spikes, weight, bias, max_density=0.05)
    sparse.linear_events(spikes, weight, bias, max_density=0.01)
    assert used == ["events"]
    monkeypatch.setattr(sparse, "density", lambda _: pytest.fail("max_density 0 must not measure"))
    sparse.linear_events(spikes, weight, bias, max_density=0.0)


# the fast network against the reference network


def active_reference(architecture="feedforward", seed=0):
    torch.manual_seed(seed)
    network = SpikingClassifier(DATA["channels"], 48, DATA["classes"], beta=0.95, readout_beta=0.95,
                                architecture=architecture)
    with torch.no_grad():
        network.synapses[0].weight.mul_(3.0)  # both layers active on sparse random inputs
    return network


def raster(batch=12, seed=6, density=0.05):
    generator = torch.Generator().manual_seed(seed)
    spikes = (torch.rand(batch, STEPS, DATA["channels"], generator=generator) < density).to(torch.uint8)
    return spikes, torch.randint(0, DATA["classes"], (batch,), generator=generator)


@pytest.mark.parametrize("max_density", [0.0, 1.0])  # dense synapses; event-driven ones
def test_fast_network_matches_the_reference(max_density):
    reference = active_reference()
    fast = FastSpikingClassifier.like(reference, max_density)
    assert list(fast.state_dict()) == list(reference.state_dict())
    inputs, labels = raster()
    outputs = []
    for network, x in ((reference, inputs.float()), (fast, inputs)):
        output = network(x)
        reference_training.regularized_loss(output, labels, 0.1, 100.0).backward()
        outputs.append(output)
    ours, theirs = outputs[1], outputs[0]
    assert (theirs.firing_rates > 0.01).all(), "a silent layer tests nothing"
    torch.testing.assert_close(ours.firing_rates, theirs.firing_rates, rtol=0, atol=0)
    torch.testing.assert_close(ours.logits, theirs.logits, rtol=1e-5, atol=1e-5)
    for (name, mine), other in zip(fast.named_parameters(), reference.parameters()):
        error = float((mine.grad - other.grad).norm() / other.grad.norm())
        assert error < 1e-5, name


def test_readout_decay_matrix_is_the_leaky_integrator():
    currents = torch.randn(40, 7, dtype=torch.float64)
    membrane, expected = torch.zeros(7, dtype=torch.float64), []
    for step in range(40):
        membrane = 0.95 * membrane + currents[step]
        expected.append(membrane)
    got = decay_matrix(40, 0.95, torch.device("cpu")).double() @ currents
    torch.testing.assert_close(got, torch.stack(expected), rtol=1e-6, atol=1e-6)


def test_recurrent_networks_run_the_reference_forward():
    reference = active_reference("recurrent")
    fast = FastSpikingClassifier.like(reference)
    inputs, _ = raster(4)
    assert torch.equal(fast(inputs).logits, reference(inputs.float()).logits)


# the session on the CPU


def context(world=SINGLE, data=None, workload="snn_bptt_dense", **overrides):
    inputs, targets = data or raster(48, seed=7)
    return TrainingContext(
        workload=workload, scale="smoke", division="closed", hyperparameters={**HYPER, **overrides},
        seed=3, device="cpu", world=world, train_inputs=inputs, train_targets=targets,
        eval_inputs=inputs[:40], dataset_parameters=DATA,
    )


def test_runner_default_is_bf16_inside_the_closed_rules_of_both_variants():
    assert HYPERPARAMETERS == {"precision": "bf16"}
    for workload in ("snn_bptt_dense", "snn_bptt_sparse"):
        hyper = load_rules(workload).hyperparameters
        for scale in ("smoke", "small", "full"):
            assert hyper.violations("closed", {**hyper.for_scale(scale), **HYPERPARAMETERS}, scale) == []


def test_fp32_session_starts_from_the_reference_weights_and_trains_like_it():
    reference = reference_training.create_session(context(precision="fp32"))
    session = create_session(context(precision="fp32"))
    for (name, ours), theirs in zip(session.network.state_dict().items(), reference.network.state_dict().values()):
        assert torch.equal(ours, theirs), name
    assert session.train_epoch(1).train_loss == pytest.approx(reference.train_epoch(1).train_loss, rel=1e-5)
    for ours, theirs in zip(session.network.parameters(), reference.network.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_one_epoch_and_predictions_in_the_reference_format(precision):
    session = create_session(context(precision=precision))
    report = session.train_epoch(1)
    assert report.samples == 48 and math.isfinite(report.train_loss) and report.train_loss > 0
    predictions = session.predict_eval()  # 40 rows in chunks of 24 and 16
    assert set(predictions) == {PRIMARY_OUTPUT, f"{FIRING_RATE_PREFIX}hidden_1", f"{FIRING_RATE_PREFIX}hidden_2"}
    assert predictions[PRIMARY_OUTPUT].shape == (40, DATA["classes"])
    for value in predictions.values():
        assert value.dtype == torch.float32 and value.device.type == "cpu" and value.shape[0] == 40
    session.network.eval()
    with torch.no_grad(), session.precision.autocast_on("cpu"):
        direct = session.network(raster(48, seed=7)[0][:40])
    torch.testing.assert_close(predictions[PRIMARY_OUTPUT], direct.logits.float(), rtol=0, atol=1e-4)


def test_warm_up_trains_nothing():
    session = create_session(context(precision="fp32"))
    weights = copy.deepcopy(session.network.state_dict())
    session.warm_up()
    for name, value in session.network.state_dict().items():
        assert torch.equal(value, weights[name]), name
    assert not session.optimizer.state
    assert session.train_epoch(1).train_loss == create_session(context(precision="fp32")).train_epoch(1).train_loss


def test_refusals_and_logged_keys():
    with pytest.raises(ValueError, match="Adam"):
        create_session(context(optimizer="sgd"))
    with pytest.raises(ValueError, match="fp32, tf32, bf16, fp16"):
        precision_for("fp8")
    logged = create_session(context()).logged_hyperparameters()
    assert logged["opt_name"] == "adam" and logged["global_batch_size"] == 16


# two processes, DDP over gloo: the same code path the GPUs run over NCCL


def _train_one_rank(rank, port, world_size):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        world = World(rank=rank, size=world_size, local_rank=rank, launcher="torchrun")
        inputs, targets = raster(32, seed=8)
        shard = slice(rank * 16, (rank + 1) * 16)
        session = create_session(context(world, (inputs[shard], targets[shard]), precision="fp32", batch_size=8))
        report = session.train_epoch(1)
        assert report.samples == 16 and math.isfinite(report.train_loss)
        weights = torch.cat([p.detach().flatten() for p in session.network.parameters()])
        replicas = [torch.empty_like(weights) for _ in range(world_size)]
        dist.all_gather(replicas, weights)
        assert torch.equal(replicas[0], replicas[1]), "the replicas drifted apart"
        assert session.logged_hyperparameters()["global_batch_size"] == 16
        dist.barrier()  # neither rank tears gloo down while the other still talks to it
    finally:
        dist.destroy_process_group()


def test_two_processes_stay_in_step_over_gloo():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_train_one_rank, args=(port, 2), nprocs=2, join=True)


# the GPU scripts, run on the CPU


@pytest.fixture(scope="module")
def check():
    return load_script("check_a100_snn_bptt")


@pytest.fixture(scope="module")
def small_case(check):
    return check.fixed_case(batch=8, scale="smoke")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_check_passes_the_a100_path_on_cpu(check, small_case, precision):
    comparison = check.compare(small_case, small_case.network, precision, torch.device("cpu"))
    assert comparison.passed, comparison


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_check_fails_when_a_weight_differs(check, small_case, precision):
    candidate = copy.deepcopy(small_case.network)
    with torch.no_grad():
        candidate.synapses[1].weight[:, :8] += 0.5
    comparison = check.compare(small_case, candidate, precision, torch.device("cpu"))
    assert not comparison.passed, comparison
