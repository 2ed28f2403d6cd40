"""The reference's SpikingClassifier in plain tensor ops that PopTorch can trace.

Same layers, same parameter and buffer names (a state_dict moves between the two either way),
same initialisation from the same seed, and the same dynamics, op for op in the same order, so
float32 forward passes agree bit for bit with snnTorch's. Per hidden population, with
r[t] = H(m[t-1] - threshold) (a comparison, so without gradient):

    u[t] = beta * m[t-1] + I[t] - r[t] * threshold
    s[t] = spike(u[t] - threshold)                 (arctan surrogate gradient, `spike`)
    m[t] = u[t] - (s[t] - r[t]) * threshold        (= beta * m[t-1] + I[t] - s[t] * threshold)

so the gradient also flows through the reset and a membrane still above threshold after its
reset must clear it twice to spike again (snnTorch Leaky, reset_mechanism="subtract",
reset_delay=False; see the reference's `leaky_neuron`). The readout integrates without reset,
m[t] = beta * m[t-1] + I[t], and the class scores are its peak membrane potential over time.

Precision follows the weights: synapses and the currents they produce are in the weights' dtype
(fp16 when `precision.half_synapses` converted the network), while membranes, thresholds,
spikes, firing rates and logits are kept in at least float32, so the loss is float32 too.

The time loop is a Python loop: PopTorch unrolls it when it traces forward. snnTorch's buffers
`graded_spikes_factor` (1) and `reset_mechanism_val` are carried for the state_dict only; beta
is not clamped to [0, 1] as snnTorch does, a no-op for the rules' 0.95.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from accelbench.reference.snn_bptt.model import (
    ARCHITECTURES,
    SURROGATE_ALPHA,
    THRESHOLD,
    SpikingOutput,
)
from accelbench.submissions.ipu.snn_bptt.spike import heaviside, spike

RESETS = ("subtract", "zero", "none")
"""snnTorch's reset_mechanism_val codes, in its order."""

Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def lif_step(
    membrane: torch.Tensor, current: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(s[t], m[t]) from m[t-1] and I[t], in snnTorch's order of operations."""
    reset = heaviside(membrane - threshold)
    potential = beta * membrane + current - reset * threshold
    fired = spike(potential - threshold, SURROGATE_ALPHA)
    return fired, potential - (fired - reset) * threshold


class LeakyState(nn.Module):
    """The constants of one snnTorch Leaky population, as buffers under snnTorch's names and in
    its registration order; float32, as snnTorch creates them."""

    def __init__(self, beta: float, *, reset: str) -> None:
        super().__init__()
        self.register_buffer("threshold", torch.tensor(THRESHOLD, dtype=torch.float32))
        self.register_buffer("graded_spikes_factor", torch.tensor(1.0, dtype=torch.float32))
        self.register_buffer("reset_mechanism_val", torch.tensor(RESETS.index(reset)))
        self.register_buffer("beta", torch.tensor(beta, dtype=torch.float32))


class SpikingNetwork(nn.Module):
    """Drop-in for the reference's SpikingClassifier (same constructor, same output)."""

    step: Step = staticmethod(lif_step)
    """The hidden populations' update; an attribute so tests can swap in wrong dynamics."""

    def __init__(
        self,
        inputs: int,
        hidden: int,
        classes: int,
        *,
        beta: float,
        readout_beta: float,
        architecture: str = "feedforward",
        layers: int = 2,
        weight_gain: float = 1.0,
    ) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture {architecture!r} is not one of {ARCHITECTURES}")
        widths = [inputs] + [hidden] * layers
        # Created in the reference's order, so the same seed draws the same initial weights.
        self.synapses = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.recurrent = nn.ModuleList(
            nn.Linear(hidden, hidden, bias=False) for _ in range(layers if architecture == "recurrent" else 0)
        )
        self.neurons = nn.ModuleList(LeakyState(beta, reset="subtract") for _ in range(layers))
        self.readout = nn.Linear(hidden, classes)
        self.readout_neuron = LeakyState(readout_beta, reset="none")
        with torch.no_grad():  # the reference's initial scale of the hidden synapses
            for synapse in self.synapses:
                synapse.weight.mul_(weight_gain)

    def forward(self, spikes: torch.Tensor) -> SpikingOutput:
        """`spikes` (batch, steps, channels) of 0/1 in any dtype."""
        weights = self.synapses[0].weight.dtype
        state = torch.promote_types(weights, torch.float32)
        activity = spikes.to(weights)
        rates = []
        for index, (synapse, neuron) in enumerate(zip(self.synapses, self.neurons)):
            recurrent = self.recurrent[index] if len(self.recurrent) else None
            fired = self._layer(synapse(activity).to(state), neuron, recurrent)
            rates.append(fired.mean(dim=(1, 2)))
            activity = fired.to(weights)
        currents = self.readout(activity).to(state)
        beta = self.readout_neuron.beta
        membrane = torch.zeros_like(currents[:, 0])
        potentials = []
        for step in range(currents.shape[1]):
            membrane = beta * membrane + currents[:, step]
            potentials.append(membrane)
        logits = torch.stack(potentials, dim=1).amax(dim=1)
        return SpikingOutput(logits=logits, firing_rates=torch.stack(rates, dim=1))

    def _layer(self, currents: torch.Tensor, neuron: LeakyState, recurrent: nn.Linear | None) -> torch.Tensor:
        """One population over time on its input currents (batch, steps, neurons), state dtype."""
        membrane = torch.zeros_like(currents[:, 0])
        fired = torch.zeros_like(currents[:, 0])
        out = []
        for step in range(currents.shape[1]):
            current = currents[:, step]
            if recurrent is not None:
                current = current + recurrent(fired.to(recurrent.weight.dtype)).to(currents.dtype)
            fired, membrane = self.step(membrane, current, neuron.beta, neuron.threshold)
            out.append(fired)
        return torch.stack(out, dim=1)
