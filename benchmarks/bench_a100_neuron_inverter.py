"""Training throughput of the a100 neuron_inverter session against a plain fp32 eager loop,
measured in one run on one device (goal on a GPU: >= 3x).

    pytest benchmarks/bench_a100_neuron_inverter.py --benchmark-only --bench-device cuda [--bench-scale smoke]

Both sides train the reference model for the size's steps of batches of 1024 on the same random
data, at the full scale's learning rate:
  plain    fp32 (TF32 and cuDNN autotuning off), eager, torch.optim.AdamW's default
           implementation, the data already on the device, a randperm and a gather per step;
  session  the a100 submission, in its precision: create_session and warm_up (untimed), then
           train_epoch over a shard of exactly those batches (its one host sync comes at the end).
One untimed run of each comes first; then the repeats alternate (plain, session, ...), each
timed between device synchronisations (pytest-benchmark times the session's), and the medians
are compared, so the speed-up is measured in one run on one device. The full-scale epoch time
(extra_info) is the rules' 7.5M training samples over the session's rate on this one device. A
full-scale split does not fit one 80 GB GPU, so the session would stream it from pinned host
memory: the `pinned_host` case measures that path (CUDA only). On a CPU (`--bench-device cpu`,
3 steps; at smoke 2 steps of 8) it only shows that the benchmark runs; its numbers say nothing
about a GPU. --bench-scale full measures as small: the scale sets only the length of a run.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass

import pytest
import torch
from cuda_timing import CUDA_ONLY, host_synchronisations, plain_fp32_backends, synchronized_seconds
from rounds import run_rounds
from torch.nn import functional

from accelbench.contracts.training import TrainingContext
from accelbench.reference.neuron_inverter.model import OUTPUTS, PROBES, TIME_BINS, NeuronInverter
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE
from accelbench.submissions.a100.common.batches import StreamedBatches
from accelbench.submissions.a100.common.placement import copy_in_rows
from accelbench.submissions.a100.common.precision import configure_cuda_backends
from accelbench.submissions.a100.neuron_inverter import HYPERPARAMETERS, create_session

SEED = 0
GOAL = 3.0


@dataclass(frozen=True)
class Size:
    steps: int
    batch_size: int
    repeats: int


SIZES = {  # by device type, then --bench-scale
    "cuda": {"smoke": Size(steps=10, batch_size=1024, repeats=2), "small": Size(steps=100, batch_size=1024, repeats=5)},
    "cpu": {"smoke": Size(steps=2, batch_size=8, repeats=1), "small": Size(steps=3, batch_size=1024, repeats=5)},
}


class PlainLoop:
    """What a first PyTorch port would do: fp32, eager, default AdamW, no tricks."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, lr: float) -> None:
        torch.manual_seed(SEED)
        self.inputs, self.targets, self.batch_size = inputs, targets, batch_size
        self.model = NeuronInverter().to(inputs.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.0)

    def run(self) -> None:
        self.model.train()
        order = torch.randperm(self.inputs.shape[0], device=self.inputs.device)
        for step in range(self.inputs.shape[0] // self.batch_size):
            index = order[step * self.batch_size : (step + 1) * self.batch_size]
            self.optimizer.zero_grad()
            loss = functional.mse_loss(self.model(self.inputs[index]), self.targets[index])
            loss.backward()
            self.optimizer.step()


@pytest.mark.parametrize("shard", ["device", "pinned_host"])
def test_a100_session_vs_plain_loop(benchmark, goal_ratio, bench_scale, torch_device, shard):
    device = torch_device
    if shard == "pinned_host" and device.type != "cuda":
        pytest.skip(f"{CUDA_ONLY} (the pinned_host shard streams to a GPU)")
    size = SIZES[device.type]["small" if bench_scale == "full" else bench_scale]
    rules = load_rules("neuron_inverter")
    full_train_samples = rules.dataset.splits["full"]["train"]
    hyper = {**rules.hyperparameters.for_scale("full"), **HYPERPARAMETERS,
             "batch_size": size.batch_size, "eval_batch_size": size.batch_size}
    generator = torch.Generator().manual_seed(SEED)
    inputs = torch.randn(size.steps * size.batch_size, TIME_BINS, PROBES, generator=generator)
    targets = torch.rand(inputs.shape[0], OUTPUTS, generator=generator) * 2 - 1

    plain = PlainLoop(inputs.to(device), targets.to(device), size.batch_size, float(hyper["learning_rate"]))
    session = create_session(TrainingContext(
        workload="neuron_inverter", scale="full", division="closed", hyperparameters=hyper,
        seed=SEED, device=str(device), world=SINGLE, train_inputs=inputs, train_targets=targets,
        eval_inputs=inputs[: size.batch_size]))
    if shard == "pinned_host":
        session.batches = StreamedBatches(
            copy_in_rows(inputs, torch.device("cpu"), session.precision.storage_dtype(device)),
            copy_in_rows(targets, torch.device("cpu"), torch.float32),
            size.batch_size, SEED, device)
    session.warm_up()
    epochs = itertools.count(int(hyper["warmup_epochs"]) + 1)  # past the LR warm-up

    def run_plain() -> float:
        if device.type == "cuda":
            plain_fp32_backends()
        return synchronized_seconds(plain.run, device)

    def run_session() -> float:
        if device.type == "cuda":
            configure_cuda_backends(session.precision)
        return synchronized_seconds(lambda: session.train_epoch(next(epochs)), device)

    run_plain(), run_session()  # untimed: first-call allocations, cuDNN autotuning
    rounds = run_rounds(benchmark, run_session, size.repeats, peer=run_plain)

    samples = inputs.shape[0]
    plain_rate, session_rate = samples / statistics.median(rounds.peer), samples / statistics.median(rounds.subject)
    speedup = session_rate / plain_rate
    benchmark.extra_info.update(
        device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU", device=str(device),
        torch_version=torch.__version__, steps=size.steps, batch_size=size.batch_size, repeats=size.repeats,
        precision=session.precision.name, shard_placement=session.batches.placement,
        eval_placement=session.eval_placement, plain_samples_per_s=plain_rate, session_samples_per_s=session_rate,
        per_repeat_speedup=[1 / r for r in rounds.pair_ratios()],
        implied_full_epoch_s=full_train_samples / session_rate)
    gpu = device.type == "cuda"
    goal_ratio("a100 session / plain fp32 samples/s (of the medians)", speedup,
               f">= {GOAL:g} on a GPU" if gpu else "none on a CPU",
               met=speedup >= GOAL if gpu else None)
    if gpu:
        syncs = host_synchronisations(lambda: session.train_epoch(next(epochs)))
        benchmark.extra_info["host_synchronisations_per_epoch"] = syncs
        assert syncs == 1, f"{syncs} host synchronisations in one session epoch, 1 expected (the epoch's mean loss)"
