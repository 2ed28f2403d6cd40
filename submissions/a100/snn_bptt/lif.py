"""One feed-forward LIF population over all time steps as a single autograd node.

Through snnTorch one step of one population is some twenty tensor operations forward and
thirty in autograd's backward (counted with torch.profiler on snnTorch 1.0; one of them,
`if self.reset_mechanism_val == 0` on a tensor buffer, makes the host wait for the device
every step). On a GPU each is a kernel launch, and at the rules' sizes the launches, not the
arithmetic, set the step time. Here the forward loop runs without autograd
and keeps one tensor for the backward, the membrane potential u[t] before the reset; the
backward takes every elementwise factor for all steps at once and walks time in reverse with
one multiply-add per step. On CUDA the loops go through torch.compile (each step is
elementwise over (batch, neurons), so inductor fuses each block of `BLOCK_STEPS` steps into a
few kernels instead of hundreds of launches); on the CPU they run eagerly, which is what the
tests check against autograd through snnTorch.

Forward dynamics, exactly snnTorch's `Leaky(reset_mechanism="subtract", reset_delay=False)`
as the reference's `leaky_neuron` docstring states them, in the same order of operations (so
fp32 spikes are bit-identical to the reference's on the same currents):

    r[t] = H(m[t-1] - threshold)                 (held out of the gradient; r[0] = 0)
    u[t] = beta * m[t-1] + I[t] - r[t] * threshold
    s[t] = H(u[t] - threshold)                   (arctan surrogate: ds/du = g[t])
    m[t] = u[t] - (s[t] - r[t]) * threshold

with m[-1] = 0 and H(x) = 1 if x > 0 else 0. The surrogate is snnTorch's `atan(alpha=2)`:

    g[t] = (alpha / 2) / (1 + (pi / 2 * alpha * (u[t] - threshold))^2)

Backward. L depends on s[t] through the layers above (dL/ds[t], given) and through m[t].
Since m[t] = u[t] - s[t] * threshold + r[t] * threshold with r[t] detached:

    dL/du[t]   = dL/ds[t] * g[t] + dL/dm[t] * (1 - threshold * g[t])
    dL/dI[t]   = dL/du[t]
    dL/dm[t-1] = beta * dL/du[t]           (the r[t] term carries no gradient)

starting from dL/dm[T-1] = 0, i.e. dL/du[t] = dL/ds[t] g[t] + beta (1 - threshold g[t]) dL/du[t+1].
The reset enters the gradient through s[t] (the
-threshold * g[t] term), as it does in snnTorch; the tests compare this against autograd
through `leaky_neuron` in float64, double resets included.
"""

from __future__ import annotations

import math

import torch

from accelbench.reference.snn_bptt.model import SURROGATE_ALPHA, THRESHOLD


def neuron_constants(neuron: torch.nn.Module) -> tuple[float, float]:
    """(beta, threshold) of an snnTorch Leaky as the Python floats its float32 buffers hold
    (beta = 0.95 is 0.949999988... in float32, and snnTorch multiplies by that value), so a
    float64 run reproduces snnTorch's float64 arithmetic exactly."""
    return float(neuron.beta.clamp(0, 1)), float(neuron.threshold)


def surrogate_derivative(shifted: torch.Tensor, alpha: float = SURROGATE_ALPHA) -> torch.Tensor:
    """snnTorch's arctan surrogate at u - threshold, in snnTorch's order of operations."""
    return alpha / 2 / (1 + (math.pi / 2 * alpha * shifted).square())


def lif_step(membrane: torch.Tensor, reset: torch.Tensor, current: torch.Tensor, beta: float,
             threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step: (m[t], r[t+1], s[t], u[t]) from m[t-1], r[t] and I[t].

    The roundings are snnTorch's: beta * m, then + I, then - r * threshold; the products
    r * threshold and (s - r) * threshold are exact (r, s in {0, 1}), so folding them into
    `sub(alpha=threshold)` rounds the same way."""
    potential = torch.sub(beta * membrane + current, reset, alpha=threshold)
    spike = (potential > threshold).to(potential.dtype)
    membrane = torch.sub(potential, spike - reset, alpha=threshold)
    return membrane, (membrane > threshold).to(potential.dtype), spike, potential


def forward_block(currents: torch.Tensor, membrane: torch.Tensor, reset: torch.Tensor, beta: float,
                  threshold: float, keep_potentials: bool
                  ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Steps over time-major `currents` (steps, batch, neurons) from the state (m, r) before
    them: spikes, the potentials u when `keep_potentials` (for a backward), and the state after."""
    spikes, potentials = [], []
    for current in currents.unbind(0):
        membrane, reset, spike, potential = lif_step(membrane, reset, current, beta, threshold)
        spikes.append(spike)
        potentials.append(potential)
    return torch.stack(spikes), torch.stack(potentials) if keep_potentials else None, membrane, reset


def backward_block(grad_spikes: torch.Tensor, potentials: torch.Tensor, grad: torch.Tensor, beta: float,
                   threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/du over time-major steps, in reverse, from dL/ds and u of those steps and `grad`,
    dL/du of the step after them (zeros after the last step); also dL/du of the block's first
    step, for the block before it.

    With g = the surrogate at u - threshold, dL/du[t] = dL/ds[t] g[t] + beta (1 - threshold
    g[t]) dL/du[t+1]: the factors are elementwise over the block, leaving one multiply-add per
    step in the loop."""
    slopes = surrogate_derivative(potentials - threshold)
    driven = (grad_spikes * slopes).unbind(0)  # dL/ds[t] g[t]
    carried = (beta * (1 - threshold * slopes)).unbind(0)  # d(dL/du[t]) / d(dL/du[t+1])
    grads = []
    for step in range(len(driven) - 1, -1, -1):
        grad = torch.addcmul(driven[step], carried[step], grad)
        grads.append(grad)
    return torch.stack(grads[::-1]), grad


BLOCK_STEPS = 10
"""Steps per compiled block on CUDA. Compiling unrolls a block's steps into one graph. Measured
with inductor's CPU backend on a shared 2-core machine (no GPU was available; batch 32 x 64
neurons x 100 steps): the whole 100-step loop took 175 s to compile for the forward and 163 s
for the inference loop; 10-step blocks 10.7 s (forward), 2.2 s (backward) and 7.1 s
(inference), and ran with bit-identical spikes and gradients within 5e-7 of the eager loops.
Ten launches per population and direction still replace the reference's thousands."""


class Loops:
    """The forward and backward blocks for one device type, eager (the CPU: one block of all
    steps) or compiled (CUDA: blocks of `BLOCK_STEPS`). Each new shape (training batch, eval
    chunk, remainder) compiles once, in the session's warm-up."""

    def __init__(self, compiled: bool, block_steps: int | None) -> None:
        self.block_steps = block_steps
        if compiled:
            self.forward = torch.compile(forward_block, dynamic=False, fullgraph=True)
            self.backward = torch.compile(backward_block, dynamic=False, fullgraph=True)
        else:
            self.forward, self.backward = forward_block, backward_block

    def blocks(self, steps: int) -> list[slice]:
        size = self.block_steps or steps
        size = max(d for d in range(1, min(size, steps) + 1) if steps % d == 0)  # one block shape
        return [slice(start, start + size) for start in range(0, steps, size)]


class _Registry:
    """Eager on the CPU, compiled on CUDA unless `compile_cuda` is switched off (the GPU
    scripts' --eager)."""

    def __init__(self) -> None:
        self.compile_cuda = True
        self._loops: dict[tuple[str, bool], Loops] = {}

    def for_device(self, device: torch.device) -> Loops:
        compiled = device.type == "cuda" and self.compile_cuda
        key = (device.type, compiled)
        if key not in self._loops:
            self._loops[key] = Loops(compiled, BLOCK_STEPS if compiled else None)
        return self._loops[key]


LOOPS = _Registry()


class LIFFunction(torch.autograd.Function):
    """Time-major currents (steps, batch, neurons) -> spikes of the same shape and dtype."""

    @staticmethod
    def forward(ctx, currents: torch.Tensor, beta: float, threshold: float) -> torch.Tensor:
        loops = LOOPS.for_device(currents.device)
        keep = ctx.needs_input_grad[0]
        membrane = torch.zeros_like(currents[0])
        reset = torch.zeros_like(membrane)
        spikes, potentials = [], []
        # Elementwise fp32 arithmetic that autocast would leave alone anyway; switching it off
        # keeps the compiled blocks from being guarded (and recompiled) per autocast state.
        with torch.autocast(currents.device.type, enabled=False):
            for block in loops.blocks(currents.shape[0]):
                spike, potential, membrane, reset = loops.forward(
                    currents[block], membrane, reset, beta, threshold, keep)
                spikes.append(spike)
                potentials.append(potential)
        ctx.beta, ctx.threshold = beta, threshold
        if keep:
            ctx.save_for_backward(_joined(potentials))
        return _joined(spikes)

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (potentials,) = ctx.saved_tensors
        loops = LOOPS.for_device(potentials.device)
        grad_spikes = grad_spikes.to(potentials.dtype)
        grad = torch.zeros_like(potentials[0])
        grads = []
        for block in reversed(loops.blocks(potentials.shape[0])):
            block_grads, grad = loops.backward(grad_spikes[block], potentials[block], grad, ctx.beta, ctx.threshold)
            grads.append(block_grads)
        return _joined(grads[::-1]), None, None


def _joined(blocks: list[torch.Tensor]) -> torch.Tensor:
    return blocks[0] if len(blocks) == 1 else torch.cat(blocks)


def lif(currents: torch.Tensor, beta: float, threshold: float = THRESHOLD, time_dim: int = 1) -> torch.Tensor:
    """Spikes of one LIF population driven by `currents`, (batch, steps, neurons) by default
    or time-major with `time_dim=0` (each step's slice then contiguous: what the model passes),
    computed in the currents' dtype (the session passes float32: membranes stay fp32 whatever
    the autocast)."""
    return LIFFunction.apply(currents.movedim(time_dim, 0), beta, threshold).movedim(0, time_dim)
