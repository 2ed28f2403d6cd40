"""Numerical check of the a100 snn_bptt path against the CPU fp32 reference.

    python benchmarks/check_a100_snn_bptt.py [--device cuda|cpu] [--batch 32] [--scale small|full] [--eager]

The reference network (snnTorch, fp32, CPU) with fixed weights and fixed batches of random
spike rasters; the same weights in the a100 path (FastSpikingClassifier: the fused LIF loop,
compiled on CUDA; event-driven synapses where the session would use them; the rasters as
uint8; autocast, the fp32 regularized loss, the fp16 loss scaler and the TF32 flags as the
session sets them) on --device in each precision. Per batch, after one forward and one
backward of the regularized loss (dense variant's target rate):

  spikes     agreement of the hidden spikes, all layers together: |both spike| / |either
             spikes| (a Jaccard index, so the ~90% of silent neuron-steps cannot inflate it);
  logits     relative error ||a - b|| / ||b|| of the readout's peak potentials;
  gradients  relative error of all parameter gradients together (unscaled).

Each is the median over 5 batches. Prints a table; exit code 1 if one is outside its bound.
A CPU checks fp32, bf16 and fp16 (it has no TF32); without CUDA, `--device cuda` says so in one
line and exits 2.

Bounds. In fp32 on the CPU the a100 path computes the reference's currents bit for bit on
dense synapses and sums the same terms in another order on event-driven ones, and runs the
same membrane arithmetic: spikes agree but for a rare threshold tie broken by a last-bit
difference. On a GPU cuBLAS sums in yet another order and inductor may fuse beta * m + I into
one rounding: again a few last-bit flips. With a precision rounding the synaptic products'
operands to p bits (unit roundoff u = 2^-p: fp32 2^-24; tf32 and fp16 2^-11; bf16 2^-8), a
spike decided within rounding of the threshold flips with a probability proportional to u, so
the disagreement 1 - agreement grows like u; each flip moves whole terms of the logits and
gradients, and independent flips add in quadrature, so their errors grow like sqrt(u) (the
neuron_inverter check's reasoning for max-pool and ReLU flips). Measured on a 2-core CPU
(torch 2.13, batch 32, `--device cpu`), medians over batches:

    scale small (2 seeds x 10 batches)
    fp32  disagreement 0        logits 1.5e-7             gradients 1.2e-7 .. 3.3e-7
    fp16  disagreement 2.8e-3   logits 4.4e-3 .. 8.7e-3   gradients 8.6e-3 .. 1.4e-2
          (6 u; 0.2 .. 0.4 sqrt(u); 0.4 .. 0.6 sqrt(u); worst single batch 0.064 = 2.9 sqrt(u))
    bf16  disagreement 2.5e-2   logits 1.3e-2 .. 2.6e-2   gradients 3.7e-2 .. 4.0e-2
          (6.4 u; 0.2 .. 0.4 sqrt(u); 0.6 sqrt(u); worst single batch 0.11 = 1.7 sqrt(u))
    scale smoke (5 batches; 32 inputs, 40 steps: fewer, larger terms per current)
    fp16  disagreement 1.1e-2 (22 u)   logits 8.7e-3 (0.4 sqrt(u))   gradients 6.8e-3
    bf16  disagreement 7.7e-2 (20 u)   logits 2.6e-2 (0.4 sqrt(u))   gradients 3.0e-2

Bounds: disagreement 50 u, logits sqrt(u), gradients 2 sqrt(u): 2.5x (smoke) to 8x (small)
the measured disagreement, 2.5x and 3x or more the measured errors, with floors for fp32,
where a single summation-order flip on a GPU would move the logits by some 1e-4 and the
gradients by up to 1e-2: disagreement 1e-3, logits 1e-3, gradients 2e-2. A weight changed by
0.5 on 8 inputs of the second layer drops the agreement to about 0.56 (the tests check that
the comparison fails then).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
from dataclasses import dataclass

import torch
from torch import nn

from accelbench.reference.snn_bptt.model import SpikingClassifier
from accelbench.reference.snn_bptt.training import regularized_loss
from accelbench.rules.loader import load_rules
from accelbench.submissions.a100.common.precision import configure_cuda_backends, precision_for
from accelbench.submissions.a100.snn_bptt.lif import LOOPS
from accelbench.submissions.a100.snn_bptt.model import FastSpikingClassifier
from accelbench.submissions.a100.snn_bptt.session import SPIKE_DTYPE, forward_loss, max_density_for

BATCHES = 5
MAX_BACKOFFS = 24
WORKLOAD = "snn_bptt_dense"


@dataclass(frozen=True)
class Bounds:
    agreement: float  # spike agreement, at least
    logits: float  # relative error, at most
    gradients: float  # relative error, at most


UNIT_ROUNDOFF = {"fp32": 2.0**-24, "tf32": 2.0**-11, "fp16": 2.0**-11, "bf16": 2.0**-8}
FLOORS = Bounds(agreement=1 - 1e-3, logits=1e-3, gradients=2e-2)
BOUNDS = {
    name: Bounds(agreement=min(1 - 50 * u, FLOORS.agreement), logits=max(u**0.5, FLOORS.logits),
                 gradients=max(2 * u**0.5, FLOORS.gradients))
    for name, u in UNIT_ROUNDOFF.items()
}
CPU_PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Case:
    """The reference network (CPU, fp32, fixed weights), fixed (uint8 rasters, labels) batches
    and the loss's regularizer settings."""

    network: SpikingClassifier
    batches: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    target_rate: float
    strength: float


@dataclass(frozen=True)
class Comparison:
    precision: str
    agreement: float
    logits_error: float
    gradients_error: float
    bounds: Bounds

    @property
    def passed(self) -> bool:
        return (self.agreement >= self.bounds.agreement and self.logits_error <= self.bounds.logits
                and self.gradients_error <= self.bounds.gradients)


def fixed_case(batch: int = 32, scale: str = "small", seed: int = 0) -> Case:
    """The rules' network at `scale` with the reference's initialisation at `seed`, its first
    layer's weights tripled so that both hidden layers are active at initialisation (a few
    percent of neuron-steps spike) on random rasters at the data's density."""
    rules = load_rules(WORKLOAD)
    data = rules.dataset.parameters_for(scale)
    hyper = rules.hyperparameters.for_scale(scale)
    steps, channels, classes = int(data["steps"]), int(data["channels"]), int(data["classes"])
    torch.manual_seed(seed)
    network = SpikingClassifier(channels, int(hyper["hidden"]), classes, beta=float(hyper["membrane_decay"]),
                                readout_beta=float(hyper["readout_decay"]))
    with torch.no_grad():
        network.synapses[0].weight.mul_(3.0)
    generator = torch.Generator().manual_seed(seed)
    density = 1.0 / steps + float(data["noise_rate"])
    batches = tuple(
        ((torch.rand(batch, steps, channels, generator=generator) < density).to(SPIKE_DTYPE),
         torch.randint(0, classes, (batch,), generator=generator))
        for _ in range(BATCHES)
    )
    return Case(network, batches, float(hyper["target_rate"]), float(hyper["rate_regularization"]))


def compare(case: Case, candidate: nn.Module, precision_name: str, device: torch.device) -> Comparison:
    """`candidate` (the case's network, or anything with its architecture) through the a100
    path on `device`, against the case's network in plain fp32 on the CPU."""
    precision = precision_for(precision_name)
    reference = copy.deepcopy(case.network)
    fast = FastSpikingClassifier.like(copy.deepcopy(candidate), max_density_for(device)).to(device)
    if device.type == "cuda":
        configure_cuda_backends(precision)
    agreements, logits_errors, gradients_errors = [], [], []
    for inputs, targets in case.batches:
        spikes, logits, gradients = reference_results(reference, inputs, targets, case)
        our_spikes, our_logits, our_gradients = a100_results(fast, inputs, targets, case, precision)
        agreements.append(spike_agreement(our_spikes, spikes))
        logits_errors.append(_relative_error(our_logits, logits))
        gradients_errors.append(_relative_error(our_gradients, gradients))
    return Comparison(precision_name, statistics.median(agreements), statistics.median(logits_errors),
                      statistics.median(gradients_errors), BOUNDS[precision_name])


def reference_results(network: SpikingClassifier, inputs: torch.Tensor, targets: torch.Tensor, case: Case
                      ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Hidden spikes, logits and flattened gradients of the reference, fp32 on the CPU (the
    spikes from the reference's own layer loop, run again without gradients)."""
    network.zero_grad(set_to_none=True)
    output = network(inputs.float())
    regularized_loss(output, targets, case.target_rate, case.strength).backward()
    spikes, activity = [], inputs.float()
    with torch.no_grad():
        for synapse, neuron in zip(network.synapses, network.neurons):
            activity = network._layer(synapse(activity), neuron, None)
            spikes.append(activity)
    return spikes, output.logits.detach(), _flat_gradients(network)


def a100_results(network: FastSpikingClassifier, inputs: torch.Tensor, targets: torch.Tensor, case: Case,
                 precision) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Hidden spikes, logits and unscaled flattened gradients through the a100 path, on the CPU."""
    device = next(network.parameters()).device
    inputs, targets = inputs.to(device), targets.to(device)
    with torch.no_grad(), precision.autocast_on(device.type):
        _, spikes = network.forward_with_spikes(inputs)
    spikes = [layer.cpu() for layer in spikes]
    scaler = torch.amp.GradScaler(device.type, enabled=precision.scaler)
    for _ in range(MAX_BACKOFFS):  # fp16: back off as training would, by skipping the step
        network.zero_grad(set_to_none=True)
        output, loss = forward_loss(network, inputs, targets, precision, case.target_rate, case.strength)
        scaler.scale(loss).backward()
        gradients = _flat_gradients(network) / scaler.get_scale()
        if not precision.scaler or bool(torch.isfinite(gradients).all()):
            break
        scaler.update(scaler.get_scale() * scaler.get_backoff_factor())
    return spikes, output.logits.detach().float().cpu(), gradients.cpu()


def spike_agreement(actual: list[torch.Tensor], expected: list[torch.Tensor]) -> float:
    """|both spike| / |either spikes| over all layers (1.0 when neither ever spikes)."""
    both = sum(float(((a > 0) & (e > 0)).sum()) for a, e in zip(actual, expected))
    either = sum(float(((a > 0) | (e > 0)).sum()) for a, e in zip(actual, expected))
    return both / either if either else 1.0


def _flat_gradients(network: nn.Module) -> torch.Tensor:
    return torch.cat([parameter.grad.flatten().float() for parameter in network.parameters()])


def _relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(actual - expected) / torch.linalg.vector_norm(expected))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--scale", choices=("smoke", "small", "full"), default="small")
    parser.add_argument("--eager", action="store_true", help="CUDA: run the LIF loops uncompiled")
    args = parser.parse_args()
    LOOPS.compile_cuda = not args.eager
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"--device cuda: torch {torch.__version__} sees no GPU; use --device cpu", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    names = tuple(BOUNDS) if device.type == "cuda" else CPU_PRECISIONS
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"a100 snn_bptt path on {where}{' (eager LIF loops)' if args.eager else ''} vs CPU fp32 reference; "
          f"torch {torch.__version__}; scale {args.scale}, batch {args.batch}, median of {BATCHES} batches")
    print(f"{'precision':<10}{'spike agreement':>16}{'>=':>7}{'logits err':>12}{'<=':>9}"
          f"{'grads err':>11}{'<=':>9}  verdict")
    case = fixed_case(args.batch, args.scale)
    comparisons = [compare(case, case.network, name, device) for name in names]
    for c in comparisons:
        print(f"{c.precision:<10}{c.agreement:>16.4f}{c.bounds.agreement:>7.3f}{c.logits_error:>12.2e}"
              f"{c.bounds.logits:>9.1e}{c.gradients_error:>11.2e}{c.bounds.gradients:>9.1e}  "
              f"{'ok' if c.passed else 'FAIL'}")
    return 0 if all(c.passed for c in comparisons) else 1


if __name__ == "__main__":
    sys.exit(main())
