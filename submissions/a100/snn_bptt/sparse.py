"""Event-driven spike propagation: `spikes @ weight.T + bias` from the nonzero spikes only.

A 0/1 spike raster (batch, steps, inputs) at density p makes a layer's input currents the sum,
per (sample, step), of the weight columns of the inputs that spiked: p * inputs columns instead
of all of them. The same holds for the weight gradient: dL/dW = G^T S (G = dL/dcurrents, S the
spikes flattened to (batch * steps, inputs)) adds, per spike, the row of G at its (sample, step)
to the column of W of its input. Both are exact (the sums are over the same terms, only their
order differs from a dense product's). What cannot be sparse is the gradient with respect to
the spikes themselves, which the hidden layers need for BPTT: dL/dS = G W is dense whatever
the spikes' density. The input raster needs no gradient.

`linear_events` chooses per call: the event path when the raster's density is below
`max_density`, the dense product otherwise. Measuring the density is a reduction the host must
read, so on a GPU it is a synchronisation (and the event path's `nonzero` is another), and the
event path's data-dependent shapes keep torch.compile and CUDA graphs out.

Crossovers (events/dense time, one synapse, forward + backward, fp32):

  CPU  measured by the former script form of `pytest benchmarks/bench_a100_snn_bptt.py --benchmark-only
       -k crossover --bench-threads 1` (a shared 2-core x86 VM, torch 2.13 CPU, 1 thread, medians of 7;
       full: the full scale's widths at batch 32, medians of 3):

       density                   0.5%   1%     2%     5%     10%
       small input  100 -> 128   0.39   0.62   0.89   1.43   2.38
       small hidden 128 -> 128   0.85   0.72   1.00   1.63   2.56
       full input   700 -> 1024  0.21   0.39   0.56   1.22   2.46
       full hidden 1024 -> 1024  0.75   1.10   1.89   4.07   7.37
       smoke input   32 -> 64    1.26   1.39   1.48   2.16   2.87   (0.3 ms either way)

       The input rasters (about 1.2% dense: one spike per channel in 100 steps plus noise)
       gain at the small and full sizes; the hidden layers gain at the small size up to about
       2% (the sparse variant's 1%), lose from 1% at the full width (where the scatter-adds of
       1,024-wide rows cost more than the dense product). `CPU_MAX_DENSITY` = 1.5% keeps the
       wins of the small scale and the full-scale input layer.
  GPU  unmeasured (the same command with `--device cuda` measures it). A dense bf16 product at
       the full scale (25,600 x 1,024 @ 1,024 x 1,024, 54 GFLOP) takes of the order of 0.1 ms
       on an H100's tensor cores; a gather-and-add at 1-10% density moves the same bytes
       without them, plus the synchronisations above. The session therefore runs dense on
       CUDA (`GPU_MAX_DENSITY` = 0) until a GPU measurement says otherwise.
"""

from __future__ import annotations

import torch
from torch.nn import functional

CPU_MAX_DENSITY = 0.015
"""Below this density the CPU session propagates events (see the table above)."""

GPU_MAX_DENSITY = 0.0
"""Dense on CUDA: the crossover there is unmeasured (see above)."""


def density(spikes: torch.Tensor) -> float:
    """Fraction of nonzero entries (a host read: a synchronisation on a GPU)."""
    return float(torch.count_nonzero(spikes)) / max(spikes.numel(), 1)


class EventLinear(torch.autograd.Function):
    """spikes (rows, inputs) 0/1, weight (outputs, inputs), bias (outputs) -> currents (rows, outputs)
    in the weight's dtype, from the nonzero spikes alone (a COO sparse-dense product); the
    weight and bias gradients too."""

    @staticmethod
    def forward(ctx, spikes: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        events = spikes.to(weight.dtype).to_sparse()  # coalesced: (row, input) of each spike
        transposed = weight.t()
        out = (torch.sparse.mm(events, transposed) if bias is None
               else torch.sparse.addmm(bias.expand(spikes.shape[0], -1), events, transposed))
        ctx.events = events  # sparse tensors stay off save_for_backward's version checks
        ctx.save_for_backward(weight)
        ctx.has_bias, ctx.spike_dtype = bias is not None, spikes.dtype
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (weight,) = ctx.saved_tensors
        events = ctx.events
        grad_out = grad_out.to(weight.dtype)
        grad_spikes = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:  # dense: every (row, input) feels the currents it would cause
            grad_spikes = (grad_out @ weight).to(ctx.spike_dtype)
        if ctx.needs_input_grad[1]:  # column c of W sums the rows of G where input c spiked
            grad_weight = torch.sparse.mm(events.t(), grad_out).t()
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum(0)
        del ctx.events
        return grad_spikes, grad_weight, grad_bias


def event_linear(spikes: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`functional.linear(spikes, weight, bias)` by events, for spikes of any leading shape."""
    flat = spikes.reshape(-1, spikes.shape[-1])
    with torch.autocast(spikes.device.type, enabled=False):  # sums of fp32 weights: no rounding to do
        out = EventLinear.apply(flat, weight, bias)
    return out.reshape(*spikes.shape[:-1], weight.shape[0])


def linear_events(spikes: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                  max_density: float) -> torch.Tensor:
    """`spikes @ weight.T + bias`: by events when the raster is sparser than `max_density`,
    as a dense (autocast) product otherwise. `max_density` 0 never measures the density."""
    if max_density > 0 and density(spikes) < max_density:
        return event_linear(spikes, weight, bias)
    return functional.linear(spikes, weight, bias)
