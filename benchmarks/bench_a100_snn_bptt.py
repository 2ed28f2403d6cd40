"""Training throughput of the a100 snn_bptt session against the reference session, measured in
one run on one device.

    python benchmarks/bench_a100_snn_bptt.py [--device cpu|cuda] [--scale small|full]
        [--variant dense|sparse] [--steps 5] [--repeats 5] [--precision bf16] [--threads N] [--eager]
    python benchmarks/bench_a100_snn_bptt.py --sparse-crossover [--device ...] [--scale ...]

Both sides train the rules' network at --scale (widths, batch, learning rate of the variant)
on the same random spike rasters (Bernoulli at the data's density: one spike per channel over
the steps, plus the noise rate) from the same initial weights (checked):
  reference  accelbench.reference.snn_bptt.training, fp32, eager (TF32 off on CUDA);
  submission the a100 session: create_session and warm_up (untimed: compiles on CUDA), in
             --precision: by default the submission's (bf16) on CUDA, fp32 on a CPU.
Each timing is one train_epoch over --steps batches, between device synchronisations. One
untimed epoch of each comes first; then the repeats alternate (reference, submission, ...), and
the medians are compared, so the ratio is measured in one run on one device. On a shared CPU,
`--threads 1` keeps OpenMP threads from waiting on descheduled siblings (the timings of 2
threads on a busy 2-core machine come in 4 ms scheduler quanta).

--sparse-crossover times one synapse, forward and backward, dense (autocast in --precision)
against event-driven (sparse.py) at several spike densities: the input layer (no spike
gradient) and a hidden layer (with it), at --scale's sizes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the neuron_inverter bench's helpers
from bench_a100_neuron_inverter import host_synchronisations, plain_backends, seconds  # noqa: E402

from accelbench.contracts.training import TrainingContext  # noqa: E402
from accelbench.reference.snn_bptt import training as reference_training  # noqa: E402
from accelbench.rules.loader import load_rules  # noqa: E402
from accelbench.run.world import SINGLE  # noqa: E402
from accelbench.submissions.a100.common.precision import (
    configure_cuda_backends,  # noqa: E402
    precision_for,  # noqa: E402
)
from accelbench.submissions.a100.snn_bptt import HYPERPARAMETERS, create_session  # noqa: E402
from accelbench.submissions.a100.snn_bptt.lif import LOOPS  # noqa: E402
from accelbench.submissions.a100.snn_bptt.sparse import event_linear  # noqa: E402

SEED = 0
CROSSOVER_DENSITIES = (0.005, 0.01, 0.02, 0.05, 0.1)


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


def throughput(args: argparse.Namespace, device: torch.device) -> int:
    workload = f"snn_bptt_{args.variant}"
    reference_context, submission_context = contexts(
        workload, args.scale, args.precision, args.batch_size, args.steps, device)
    reference = reference_training.create_session(reference_context)
    submission = create_session(submission_context)
    for (name, ours), theirs in zip(submission.network.state_dict().items(), reference.network.state_dict().values()):
        assert torch.equal(ours.cpu(), theirs.cpu()), f"initial weights differ: {name}"
    started = time.perf_counter()
    reference.warm_up()
    submission.warm_up()
    warm_up_s = time.perf_counter() - started
    epochs = iter(range(1, 10**9))

    def run_reference() -> float:
        if device.type == "cuda":
            plain_backends()
        return seconds(lambda: reference.train_epoch(next(epochs)), device)

    def run_submission() -> float:
        if device.type == "cuda":
            configure_cuda_backends(submission.precision)
        return seconds(lambda: submission.train_epoch(next(epochs)), device)

    run_reference(), run_submission()  # untimed: first-call allocations
    pairs = [(run_reference(), run_submission()) for _ in range(args.repeats)]

    batch = int(submission_context.hyperparameters["batch_size"])
    steps = int(submission_context.dataset_parameters["steps"])
    samples = args.steps * batch
    reference_rate = samples / statistics.median(r for r, _ in pairs)
    submission_rate = samples / statistics.median(s for _, s in pairs)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    hp = submission_context.hyperparameters
    print(f"device: {name} ({device}), torch {torch.__version__}")
    print(f"{workload} at scale {args.scale}: hidden {hp['hidden']}, "
          f"channels {submission_context.dataset_parameters['channels']}, {steps} time steps, "
          f"batch {batch}; {args.steps} steps per timed epoch, {args.repeats} interleaved repeats")
    print(f"untimed warm-up of both sessions (compiles on CUDA): {warm_up_s:.1f} s")
    print(f"reference (fp32, eager, snnTorch):   {reference_rate:12,.1f} samples/s  "
          f"{reference_rate * steps:14,.0f} timesteps/s")
    print(f"submission ({submission.precision.name}, "
          f"{'eager' if device.type != 'cuda' or args.eager else 'compiled'} LIF loops"
          f"{', fused Adam' if device.type == 'cuda' else ''}):"
          f"{'':>1}{submission_rate:12,.1f} samples/s  {submission_rate * steps:14,.0f} timesteps/s")
    print("per repeat (reference s, submission s): "
          + ", ".join(f"({r:.3f}, {s:.3f})" for r, s in pairs))
    print(f"ratio submission/reference = {submission_rate / reference_rate:.2f}")
    if device.type == "cuda":
        syncs = host_synchronisations(lambda: submission.train_epoch(next(epochs)))
        print(f"host synchronisations in one submission epoch of {args.steps} steps: {syncs} "
              "(1 expected: the epoch's mean loss)")
    else:
        print("CPU run: eager on both sides; the GPU ratio is for a CUDA run to measure.")
    return 0


def _median_seconds(work: Callable[[], None], device: torch.device, repeats: int) -> float:
    work()
    return statistics.median(seconds(work, device) for _ in range(repeats))


def sparse_crossover(args: argparse.Namespace, device: torch.device) -> int:
    """Dense against event-driven propagation, one synapse, forward + backward."""
    rules = load_rules(f"snn_bptt_{args.variant}")
    data = rules.dataset.parameters_for(args.scale)
    hyper = rules.hyperparameters.for_scale(args.scale)
    batch, steps = args.batch_size or int(hyper["batch_size"]), int(data["steps"])
    hidden, channels = int(hyper["hidden"]), int(data["channels"])
    precision = precision_for(args.precision)
    if device.type == "cuda":
        configure_cuda_backends(precision)
    generator = torch.Generator().manual_seed(SEED)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; batch {batch} x {steps} steps; "
          f"dense in {precision.name}, events in fp32; medians of {args.repeats}, forward + backward")
    print(f"{'layer':<22}{'density':>9}{'dense ms':>11}{'events ms':>11}{'events/dense':>14}")
    for layer, inputs, spike_grad in (("input  %d -> %d" % (channels, hidden), channels, False),
                                      ("hidden %d -> %d" % (hidden, hidden), hidden, True)):
        weight = (torch.randn(hidden, inputs, generator=generator) / inputs**0.5).to(device).requires_grad_()
        bias = torch.zeros(hidden, device=device, requires_grad=True)
        grad = torch.randn(batch, steps, hidden, generator=generator).to(device)
        for density in CROSSOVER_DENSITIES:
            spikes = (torch.rand(batch, steps, inputs, generator=generator) < density).float().to(device)
            spikes.requires_grad_(spike_grad)

            def dense() -> None:
                with precision.autocast_on(device.type):
                    functional.linear(spikes, weight, bias).float().backward(grad)

            def events() -> None:
                event_linear(spikes, weight, bias).backward(grad)

            dense_s = _median_seconds(dense, device, args.repeats)
            events_s = _median_seconds(events, device, args.repeats)
            print(f"{layer:<22}{density:>9.3f}{dense_s * 1e3:>11.2f}{events_s * 1e3:>11.2f}"
                  f"{events_s / dense_s:>14.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--scale", choices=("smoke", "small", "full"), default="small")
    parser.add_argument("--variant", choices=("dense", "sparse"), default="dense")
    parser.add_argument("--steps", type=int, default=5, help="training steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the rules' at --scale")
    parser.add_argument("--precision", default=None,
                        help=f"the submission's precision; default {HYPERPARAMETERS['precision']} on CUDA, fp32 on "
                             "a CPU (CPUs without bf16 matrix units emulate bf16 products slowly)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--sparse-crossover", action="store_true")
    parser.add_argument("--eager", action="store_true", help="CUDA: run the LIF loops uncompiled")
    args = parser.parse_args()
    LOOPS.compile_cuda = not args.eager
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"--device {args.device}: torch {torch.__version__} sees no GPU; use --device cpu", file=sys.stderr)
        return 2
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.precision is None:
        args.precision = HYPERPARAMETERS["precision"] if device.type == "cuda" else "fp32"
    return sparse_crossover(args, device) if args.sparse_crossover else throughput(args, device)


if __name__ == "__main__":
    sys.exit(main())
