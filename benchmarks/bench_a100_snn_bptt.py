"""Training throughput of the a100 snn_bptt session against the reference session, measured in
one run on one device (goal on a GPU: >= 3x), and where event-driven synapses pay.

    pytest benchmarks/bench_a100_snn_bptt.py --benchmark-only [--bench-device cuda] [--bench-scale smoke|small|full]
        [--bench-threads N] [-k throughput | -k crossover]

Throughput: both sides train the rules' network of each variant at --bench-scale (widths, batch,
learning rate) on the same random spike rasters (Bernoulli at the data's density: one spike per
channel over the steps, plus the noise rate) from the same initial weights (checked):
  reference  accelbench.reference.snn_bptt.training, fp32, eager (TF32 off on CUDA);
  submission the a100 session: create_session and warm_up (untimed: compiles on CUDA), in the
             submission's precision (bf16) on CUDA, fp32 on a CPU (CPUs without bf16 matrix units
             emulate bf16 products slowly).
Each timing is one train_epoch over 5 batches (at smoke: 1 of 8), between device
synchronisations. One untimed epoch of each comes first; then the repeats alternate (reference,
submission, ...; pytest-benchmark times the submission's), and the medians are compared, so the
ratio is measured in one run on one device. On a shared CPU, `--bench-threads 1` keeps OpenMP
threads from waiting on descheduled siblings (the timings of 2 threads on a busy 2-core machine
come in 4 ms scheduler quanta).

Sparse crossover: one synapse, forward and backward, dense (autocast in the submission's
precision) against event-driven (sparse.py) at several spike densities: the input layer (no spike
gradient) and a hidden layer (with it), at the scale's sizes; each (layer, density) is one
benchmark of the event-driven path, the dense one run before it in every round.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass

import pytest
import torch
from cuda_timing import host_synchronisations, plain_fp32_backends, synchronized_seconds
from rounds import run_rounds, seconds_of
from torch.nn import functional

from accelbench.contracts.training import TrainingContext
from accelbench.reference.snn_bptt import training as reference_training
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE
from accelbench.submissions.a100.common.precision import configure_cuda_backends, precision_for
from accelbench.submissions.a100.snn_bptt import HYPERPARAMETERS, create_session
from accelbench.submissions.a100.snn_bptt.sparse import event_linear

SEED = 0
GOAL = 3.0
CROSSOVER_DENSITIES = (0.005, 0.01, 0.02, 0.05, 0.1)


@dataclass(frozen=True)
class Size:
    steps: int  # training steps per timed epoch
    repeats: int
    batch_size: int | None  # None: the rules' at the scale


SIZES = {"smoke": Size(steps=1, repeats=1, batch_size=8), "small": Size(steps=5, repeats=5, batch_size=None),
         "full": Size(steps=5, repeats=5, batch_size=None)}


def precision_on(device: torch.device) -> str:
    return HYPERPARAMETERS["precision"] if device.type == "cuda" else "fp32"


def random_split(samples: int, data: dict, seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 rasters (samples, steps, channels) at the generator's mean density, and labels."""
    steps, channels, classes = int(data["steps"]), int(data["channels"]), int(data["classes"])
    generator = torch.Generator().manual_seed(seed)
    density = 1.0 / steps + float(data["noise_rate"])
    inputs = (torch.rand(samples, steps, channels, generator=generator) < density).to(torch.uint8)
    return inputs, torch.randint(0, classes, (samples,), generator=generator)


def contexts(workload: str, scale: str, precision: str, batch_size: int | None, steps: int,
             device: torch.device) -> tuple[TrainingContext, TrainingContext]:
    """(reference, submission) contexts over the same random split of `steps` batches."""
    rules = load_rules(workload)
    data = rules.dataset.parameters_for(scale)
    hyper = {**rules.hyperparameters.for_scale(scale)}
    if batch_size:
        hyper["batch_size"] = batch_size
    hyper["eval_batch_size"] = hyper["batch_size"]
    inputs, targets = random_split(steps * int(hyper["batch_size"]), data)

    def context(hyperparameters: dict) -> TrainingContext:
        return TrainingContext(
            workload=workload, scale=scale, division="closed", hyperparameters=hyperparameters,
            seed=SEED, device=str(device), world=SINGLE, train_inputs=inputs, train_targets=targets,
            eval_inputs=inputs[: int(hyper["batch_size"])], dataset_parameters=data)

    return context({**hyper, "precision": "fp32"}), context({**hyper, **HYPERPARAMETERS, "precision": precision})


@pytest.mark.parametrize("variant", ["dense", "sparse"])
def test_throughput(benchmark, goal_ratio, bench_scale, torch_device, variant):
    device, size = torch_device, SIZES[bench_scale]
    workload = f"snn_bptt_{variant}"
    reference_context, submission_context = contexts(
        workload, bench_scale, precision_on(device), size.batch_size, size.steps, device)
    reference = reference_training.create_session(reference_context)
    submission = create_session(submission_context)
    for (name, ours), theirs in zip(submission.network.state_dict().items(), reference.network.state_dict().values()):
        assert torch.equal(ours.cpu(), theirs.cpu()), f"initial weights differ: {name}"
    warm_up_s = seconds_of(lambda: (reference.warm_up(), submission.warm_up()))
    epochs = itertools.count(1)

    def run_reference() -> float:
        if device.type == "cuda":
            plain_fp32_backends()
        return synchronized_seconds(lambda: reference.train_epoch(next(epochs)), device)

    def run_submission() -> float:
        if device.type == "cuda":
            configure_cuda_backends(submission.precision)
        return synchronized_seconds(lambda: submission.train_epoch(next(epochs)), device)

    run_reference(), run_submission()  # untimed: first-call allocations
    rounds = run_rounds(benchmark, run_submission, size.repeats, peer=run_reference)

    hp = submission_context.hyperparameters
    batch, steps = int(hp["batch_size"]), int(submission_context.dataset_parameters["steps"])
    samples = size.steps * batch
    reference_rate = samples / statistics.median(rounds.peer)
    submission_rate = samples / statistics.median(rounds.subject)
    gpu = device.type == "cuda"
    benchmark.extra_info.update(
        device_name=torch.cuda.get_device_name(device) if gpu else f"CPU, {torch.get_num_threads()} threads",
        device=str(device), torch_version=torch.__version__, workload=workload, scale=bench_scale,
        hidden=hp["hidden"], channels=submission_context.dataset_parameters["channels"], time_steps=steps,
        batch_size=batch, steps_per_epoch=size.steps, repeats=size.repeats, warm_up_s=warm_up_s,
        precision=submission.precision.name, compiled_lif_loops=gpu,
        reference_samples_per_s=reference_rate, submission_samples_per_s=submission_rate,
        reference_timesteps_per_s=reference_rate * steps, submission_timesteps_per_s=submission_rate * steps)
    ratio = submission_rate / reference_rate
    goal_ratio("submission / reference samples/s (of the medians)", ratio,
               f">= {GOAL:g} on a GPU" if gpu else "none on a CPU",
               met=ratio >= GOAL if gpu else None)
    if gpu:
        syncs = host_synchronisations(lambda: submission.train_epoch(next(epochs)))
        benchmark.extra_info["host_synchronisations_per_epoch"] = syncs
        assert syncs == 1, f"{syncs} host synchronisations in one submission epoch, 1 expected (the epoch's mean loss)"


@pytest.mark.parametrize("density", CROSSOVER_DENSITIES)
@pytest.mark.parametrize("layer", ["input", "hidden"])
def test_sparse_crossover(benchmark, goal_ratio, bench_scale, torch_device, layer, density):
    """Dense against event-driven propagation, one synapse, forward + backward, at the scale's widths (the
    variants share them)."""
    device, size = torch_device, SIZES[bench_scale]
    rules = load_rules("snn_bptt_dense")
    data = rules.dataset.parameters_for(bench_scale)
    hyper = rules.hyperparameters.for_scale(bench_scale)
    batch, steps = size.batch_size or int(hyper["batch_size"]), int(data["steps"])
    hidden, channels = int(hyper["hidden"]), int(data["channels"])
    inputs, spike_grad = (channels, False) if layer == "input" else (hidden, True)
    precision = precision_for(precision_on(device))
    if device.type == "cuda":
        configure_cuda_backends(precision)
    generator = torch.Generator().manual_seed(SEED)
    weight = (torch.randn(hidden, inputs, generator=generator) / inputs**0.5).to(device).requires_grad_()
    bias = torch.zeros(hidden, device=device, requires_grad=True)
    grad = torch.randn(batch, steps, hidden, generator=generator).to(device)
    spikes = (torch.rand(batch, steps, inputs, generator=generator) < density).float().to(device)
    spikes.requires_grad_(spike_grad)

    def dense() -> None:
        with precision.autocast_on(device.type):
            functional.linear(spikes, weight, bias).float().backward(grad)

    def events() -> None:
        event_linear(spikes, weight, bias).backward(grad)

    dense(), events()  # warm-up, not counted
    rounds = run_rounds(benchmark, lambda: synchronized_seconds(events, device), size.repeats,
                        peer=lambda: synchronized_seconds(dense, device))
    benchmark.extra_info.update(
        device=str(device), layer=f"{inputs} -> {hidden}", density=density, batch=batch, time_steps=steps,
        dense_precision=precision.name, dense_median_ms=statistics.median(rounds.peer) * 1e3,
        events_median_ms=statistics.median(rounds.subject) * 1e3)
    goal_ratio("events / dense fwd+bwd s (of the medians)", rounds.ratio_of_medians(),
               "none set (below 1 events pay)")
