"""The snn_bptt reference network: snnTorch leaky integrate-and-fire layers unrolled over time.

Input spikes (batch, steps, channels) pass through two hidden LIF layers, feed-forward or with
all-to-all recurrent weights, into a non-spiking leaky readout whose maximum membrane
potential over time scores each class (the readout of Zenke & Vogels' Randman experiments).
Gradients flow through time by BPTT with snnTorch's arctan surrogate for the spike.

A feed-forward layer's input currents do not depend on its own state, so each layer takes its
whole input sequence in one matrix product and only the membrane update runs step by step;
layer by layer this is the same computation as stepping the whole network once per time step.
"""

from __future__ import annotations

from typing import NamedTuple

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

THRESHOLD = 1.0
SURROGATE_ALPHA = 2.0  # snnTorch's default arctan surrogate: alpha/2 / (1 + (pi/2 * alpha * u)^2)
ARCHITECTURES = ("feedforward", "recurrent")


def leaky_neuron(beta: float) -> snn.Leaky:
    """One LIF population, reset by subtraction in the step that spikes (reset_delay off, the
    convention of SpikingJelly and Norse). snnTorch computes, with r[t] = H(m[t-1] - threshold)
    held out of the gradient:

        u[t] = beta * m[t-1] + I[t] - r[t] * threshold
        s[t] = H(u[t] - threshold)              (arctan surrogate gradient)
        m[t] = u[t] - (s[t] - r[t]) * threshold = beta * m[t-1] + I[t] - s[t] * threshold

    so the gradient also flows through the reset, and a membrane still above the threshold
    after its reset (an input of over twice the threshold in one step) must clear it twice
    to spike again. Vendor implementations reproduce exactly this."""
    return snn.Leaky(
        beta=beta,
        threshold=THRESHOLD,
        spike_grad=surrogate.atan(alpha=SURROGATE_ALPHA),
        reset_mechanism="subtract",
        reset_delay=False,
    )


class SpikingOutput(NamedTuple):
    logits: torch.Tensor  # (batch, classes): the readout's maximum membrane potential over time
    firing_rates: torch.Tensor  # (batch, hidden layers): fraction of each layer's neuron-steps that spiked


class SpikingClassifier(nn.Module):
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
        """`weight_gain` scales the hidden layers' initial synaptic weights (PyTorch's default
        uniform bound 1/sqrt(fan_in)): spikes are sparse and arrive one synapse at a time, so at
        gain 1 a neuron needs tens of coincident input spikes to reach the threshold and the
        surrogate gradients start near zero; the rules fix the gain."""
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture {architecture!r} is not one of {ARCHITECTURES}")
        widths = [inputs] + [hidden] * layers
        self.synapses = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.recurrent = nn.ModuleList(
            nn.Linear(hidden, hidden, bias=False) for _ in range(layers if architecture == "recurrent" else 0)
        )
        self.neurons = nn.ModuleList(leaky_neuron(beta) for _ in range(layers))
        self.readout = nn.Linear(hidden, classes)
        self.readout_neuron = snn.Leaky(beta=readout_beta, threshold=THRESHOLD, reset_mechanism="none")
        with torch.no_grad():
            for synapse in self.synapses:
                synapse.weight.mul_(weight_gain)

    def forward(self, spikes: torch.Tensor) -> SpikingOutput:
        """`spikes` (batch, steps, channels) of 0/1 in the weights' dtype."""
        rates = []
        activity = spikes
        for index, (synapse, neuron) in enumerate(zip(self.synapses, self.neurons)):
            recurrent = self.recurrent[index] if len(self.recurrent) else None
            activity = self._layer(synapse(activity), neuron, recurrent)
            rates.append(activity.mean(dim=(1, 2)))
        currents = self.readout(activity)
        membrane = torch.zeros_like(currents[:, 0])
        potentials = []
        for step in range(currents.shape[1]):
            _, membrane = self.readout_neuron(currents[:, step], membrane)
            potentials.append(membrane)
        logits = torch.stack(potentials, dim=1).amax(dim=1)
        return SpikingOutput(logits=logits, firing_rates=torch.stack(rates, dim=1))

    @staticmethod
    def _layer(currents: torch.Tensor, neuron: snn.Leaky, recurrent: nn.Linear | None) -> torch.Tensor:
        """Run one LIF population over time on its input currents (batch, steps, neurons)."""
        membrane = torch.zeros_like(currents[:, 0])
        spike = torch.zeros_like(currents[:, 0])
        out = []
        for step in range(currents.shape[1]):
            current = currents[:, step] if recurrent is None else currents[:, step] + recurrent(spike)
            spike, membrane = neuron(current, membrane)
            out.append(spike)
        return torch.stack(out, dim=1)
