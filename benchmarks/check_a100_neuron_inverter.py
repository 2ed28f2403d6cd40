"""Numerical check of the a100 neuron_inverter path against the CPU fp32 reference.

    python benchmarks/check_a100_neuron_inverter.py [--device cuda|cpu] [--batch 32]

The reference model with fixed weights and fixed batches; the same weights copied into the
a100 path (inputs stored as the session stores them, autocast, the float32 MSE, the fp16 loss
scaler, TF32 flags and torch.compile on CUDA) on --device in each precision. Its forward
outputs and parameter gradients (after one backward of the MSE) are compared with the
reference's in fp32 on the CPU: relative error ||a - b|| / ||b||, for the outputs and for all
gradients together, the median over 5 batches. Prints a table; exit code 1 if an error is over
its bound. A CPU runs fp32, bf16 and fp16 (it has no TF32).

Dropout is set to 0 so both sides compute the same function; the network stays in training
mode, so BatchNorm normalises with batch statistics as in a training step.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

from accelbench.reference.neuron_inverter.model import OUTPUTS, PROBES, TIME_BINS, NeuronInverter
from accelbench.submissions.a100.common.precision import (
    Precision,
    configure_cuda_backends,
    precision_for,
)
from accelbench.submissions.a100.neuron_inverter.loss import forward_loss

# Bounds from the significand. A precision rounds matmul and conv operands to p bits, unit
# roundoff u = 2^-p (fp32 2^-24; tf32 and fp16 2^-11; bf16 2^-8), and accumulates in fp32.
#
# Outputs are continuous in every rounding (max and ReLU included): 9 weighted layers (3 conv,
# 6 linear) each round their input and their weights, 18 roundings of relative size u that add
# to between sqrt(18) u = 4.2 u (independent) and 18 u (coherent): bound 16 u. fp32 needs a
# floor instead: cuBLAS/cuDNN sum in another order than the CPU, and reordering a sum of K terms
# moves it by about sqrt(K) 2^-24 (K up to 4320 here: 4e-6) per layer: 5e-5 over 9 layers.
#
# Gradients are not continuous: a max-pool winner or a ReLU sign decided on a value within
# rounding of its threshold goes the other way with a probability proportional to u, and each
# such flip moves whole gradient entries. Independent flips add in quadrature, so the error
# grows like sqrt(u): bound 5 sqrt(u). Measured on a 2-core CPU (torch 2.13, batch 32, median
# over 5 batches, `--device cpu`): bf16 outputs 3.1e-3 (0.8 u), gradients 0.156 (2.5 sqrt(u));
# fp16 outputs 3.6e-4 (0.7 u), gradients 0.049 (2.2 sqrt(u)). In fp32 a single flip can move
# the gradient by 1e-2 (the CPU's own fp32 against fp64, batch 64, seed 4): the median over
# batches keeps one unlucky batch from deciding the verdict.
UNIT_ROUNDOFF = {"fp32": 2.0**-24, "tf32": 2.0**-11, "fp16": 2.0**-11, "bf16": 2.0**-8}
OUTPUTS_FLOOR = 5e-5
BATCHES = 5


@dataclass(frozen=True)
class Bounds:
    outputs: float
    gradients: float


BOUNDS = {
    name: Bounds(outputs=max(16 * u, OUTPUTS_FLOOR), gradients=5 * u**0.5)
    for name, u in UNIT_ROUNDOFF.items()
}
CPU_PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Case:
    """The reference network (CPU, fp32, fixed weights) and fixed (inputs, targets) batches."""

    network: nn.Module
    batches: tuple[tuple[torch.Tensor, torch.Tensor], ...]


@dataclass(frozen=True)
class Comparison:
    precision: str
    outputs_error: float
    gradients_error: float
    bounds: Bounds

    @property
    def passed(self) -> bool:
        return self.outputs_error <= self.bounds.outputs and self.gradients_error <= self.bounds.gradients


def fixed_case(batch: int = 32, seed: int = 0) -> Case:
    torch.manual_seed(seed)
    network = NeuronInverter(dropout=0.0).train()
    generator = torch.Generator().manual_seed(seed)
    batches = tuple(
        (torch.randn(batch, TIME_BINS, PROBES, generator=generator),  # z-scored traces
         torch.rand(batch, OUTPUTS, generator=generator) * 2 - 1)  # conductances in [-1, 1]
        for _ in range(BATCHES)
    )
    return Case(network, batches)


def compare(case: Case, candidate: nn.Module, precision_name: str, device: torch.device) -> Comparison:
    """`candidate` (a copy of the case's network, or anything with its architecture) through
    the a100 path on `device`, against the case's network in plain fp32 on the CPU."""
    precision = precision_for(precision_name)
    reference = copy.deepcopy(case.network)
    network = copy.deepcopy(candidate).to(device)
    model: nn.Module = network
    if device.type == "cuda":
        configure_cuda_backends(precision)
        model = torch.compile(network)
    outputs_errors, gradients_errors = [], []
    for inputs, targets in case.batches:
        expected_outputs, expected_gradients = reference_results(reference, inputs, targets)
        outputs, gradients = a100_results(network, model, inputs, targets, precision)
        outputs_errors.append(_relative_error(outputs, expected_outputs))
        gradients_errors.append(_relative_error(gradients, expected_gradients))
    return Comparison(precision_name, statistics.median(outputs_errors),
                      statistics.median(gradients_errors), BOUNDS[precision_name])


def reference_results(network: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs and flattened gradients of the reference model, plain fp32 on the CPU."""
    network.zero_grad(set_to_none=True)
    outputs = network(inputs)
    functional.mse_loss(outputs, targets).backward()
    return outputs.detach(), _flat_gradients(network)


def a100_results(network: nn.Module, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                 precision: Precision) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs and unscaled gradients of `network` run as `model` (itself or compiled) through
    the a100 path, as float32 on the CPU."""
    device = next(network.parameters()).device
    network.zero_grad(set_to_none=True)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.scaler)
    outputs, loss = forward_loss(model, inputs.to(device, precision.storage_dtype(device)),
                                 targets.to(device), precision)
    scaler.scale(loss).backward()
    return outputs.detach().float().cpu(), _flat_gradients(network).cpu() / scaler.get_scale()


def _flat_gradients(network: nn.Module) -> torch.Tensor:
    return torch.cat([parameter.grad.flatten().float() for parameter in network.parameters()])


def _relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(actual - expected) / torch.linalg.vector_norm(expected))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"--device cuda: torch {torch.__version__} sees no GPU; use --device cpu", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    names = tuple(UNIT_ROUNDOFF) if device.type == "cuda" else CPU_PRECISIONS
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"a100 path on {where} vs CPU fp32 reference; torch {torch.__version__}; batch {args.batch}")
    print(f"{'precision':<10}{'outputs err':>13}{'bound':>10}{'grads err':>13}{'bound':>10}  verdict")
    case = fixed_case(args.batch)
    comparisons = [compare(case, case.network, name, device) for name in names]
    for c in comparisons:
        print(f"{c.precision:<10}{c.outputs_error:>13.2e}{c.bounds.outputs:>10.1e}"
              f"{c.gradients_error:>13.2e}{c.bounds.gradients:>10.1e}  {'ok' if c.passed else 'FAIL'}")
    return 0 if all(c.passed for c in comparisons) else 1


if __name__ == "__main__":
    sys.exit(main())
