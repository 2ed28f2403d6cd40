"""Training throughput of the a100 neuron_inverter session against a plain fp32 eager loop,
measured in one run on one device.

    python benchmarks/bench_a100_neuron_inverter.py [--device cuda] [--steps 100]
        [--batch-size 1024] [--repeats 5] [--precision bf16] [--shard device|pinned_host]

Both sides train the reference model for --steps batches of --batch-size on the same random
data, at the full scale's learning rate:
  plain    fp32 (TF32 and cuDNN autotuning off), eager, torch.optim.AdamW's default
           implementation, the data already on the device, a randperm and a gather per step;
  session  the a100 submission: create_session and warm_up (untimed), then train_epoch over a
           shard of exactly --steps batches (its one host sync comes at the end).
One untimed run of each comes first; then the repeats alternate (plain, session, ...), each
timed between device synchronisations, and the medians are compared, so the speed-up is
measured in one run on one device. The full-scale epoch time is the rules' 7.5M training
samples over the session's rate on this one device. A full-scale split does not fit one 80 GB
GPU, so the session would stream it from pinned host memory: `--shard pinned_host` measures
that path. On a CPU (`--device cpu --steps 3`) the script only shows that it runs; its
numbers say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import torch
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


def plain_backends() -> None:
    """True fp32: cuDNN's TF32 is on by default in PyTorch, so switch it off too."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False


def seconds(work: Callable[[], None], device: torch.device) -> float:
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda _device: None)
    synchronize(device)
    start = time.perf_counter()
    work()
    synchronize(device)
    return time.perf_counter() - start


def host_synchronisations(work: Callable[[], None]) -> int:
    """How many times `work` made the host wait for the GPU implicitly (.item(), a copy to
    the host, ...), as torch's CUDA sync debug mode reports them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            work()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(warning.message) for warning in caught)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", default=HYPERPARAMETERS["precision"])
    parser.add_argument("--shard", choices=("device", "pinned_host"), default="device")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"--device {args.device}: torch {torch.__version__} sees no GPU; use --device cpu",
              file=sys.stderr)
        return 2
    if args.shard == "pinned_host" and device.type != "cuda":
        print("--shard pinned_host streams to a GPU: use --device cuda", file=sys.stderr)
        return 2
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())

    rules = load_rules("neuron_inverter")
    full_train_samples = rules.dataset.splits["full"]["train"]
    hyper = {**rules.hyperparameters.for_scale("full"), **HYPERPARAMETERS,
             "precision": args.precision, "batch_size": args.batch_size,
             "eval_batch_size": args.batch_size}
    generator = torch.Generator().manual_seed(SEED)
    inputs = torch.randn(args.steps * args.batch_size, TIME_BINS, PROBES, generator=generator)
    targets = torch.rand(inputs.shape[0], OUTPUTS, generator=generator) * 2 - 1

    plain = PlainLoop(inputs.to(device), targets.to(device), args.batch_size,
                      float(hyper["learning_rate"]))
    session = create_session(TrainingContext(
        workload="neuron_inverter", scale="full", division="closed", hyperparameters=hyper,
        seed=SEED, device=str(device), world=SINGLE, train_inputs=inputs, train_targets=targets,
        eval_inputs=inputs[: args.batch_size]))
    if args.shard == "pinned_host":
        session.batches = StreamedBatches(
            copy_in_rows(inputs, torch.device("cpu"), session.precision.storage_dtype(device)),
            copy_in_rows(targets, torch.device("cpu"), torch.float32),
            args.batch_size, SEED, device)
    session.warm_up()
    epochs = itertools.count(int(hyper["warmup_epochs"]) + 1)  # past the LR warm-up

    def run_plain() -> float:
        if device.type == "cuda":
            plain_backends()
        return seconds(plain.run, device)

    def run_session() -> float:
        if device.type == "cuda":
            configure_cuda_backends(session.precision)
        return seconds(lambda: session.train_epoch(next(epochs)), device)

    run_plain(), run_session()  # untimed: first-call allocations, cuDNN autotuning
    pairs = [(run_plain(), run_session()) for _ in range(args.repeats)]

    samples = inputs.shape[0]
    plain_rate = samples / statistics.median(p for p, _ in pairs)
    session_rate = samples / statistics.median(s for _, s in pairs)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name} ({device}), torch {torch.__version__}")
    print(f"{args.steps} steps of batch {args.batch_size} per run, {args.repeats} interleaved repeats")
    print(f"plain fp32 eager (TF32 off, AdamW default):  {plain_rate:12,.0f} samples/s")
    print(f"a100 session ({session.precision.name}, "
          f"{'torch.compile, fused AdamW' if device.type == 'cuda' else 'eager'}, "
          f"shard: {session.batches.placement}, eval inputs: {session.eval_placement}):  "
          f"{session_rate:12,.0f} samples/s")
    print(f"speed-up (median, this run): {session_rate / plain_rate:.2f}x; per repeat: "
          + ", ".join(f"{p / s:.2f}x" for p, s in pairs))
    print(f"implied full-scale epoch ({full_train_samples:,} samples, this one device): "
          f"{full_train_samples / session_rate:,.1f} s")
    if device.type == "cuda":
        syncs = host_synchronisations(lambda: session.train_epoch(next(epochs)))
        print(f"host synchronisations in one session epoch of {args.steps} steps: {syncs} "
              "(1 expected: the epoch's mean loss)")
    else:
        print("CPU run: this only shows the script works; the numbers say nothing about a GPU.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
