"""The reference's spiking classifier with a fused time loop, event-driven input propagation
and an exact closed-form readout.

`FastSpikingClassifier` subclasses the reference's `SpikingClassifier`: the same modules, the
same parameters under the same state_dict keys, the same initialisation; only `forward`
differs, and computes the same function:

  synapses   `spikes @ W.T + b` for each hidden layer, dense (autocast) or from the nonzero
             spikes (sparse.py) below a density threshold;
  neurons    each hidden LIF population over all steps as one autograd node (lif.py), with
             the membrane in float32 whatever the autocast dtype;
  readout    snnTorch's non-spiking leaky integrator m[t] = beta_r * m[t-1] + I[t] (m[-1] = 0)
             is linear, so m[t] = sum_{k <= t} beta_r^(t - k) I[k] for all t at once: one float32
             product with the lower-triangular (steps x steps) decay matrix; the logits are its
             maximum over time, as in the reference.

The recurrent architecture (open division only: the closed rules fix `feedforward`) runs the
reference's own forward: its input currents depend on the layer's previous spikes, so the
time loop cannot take a whole layer's currents at once.
"""

from __future__ import annotations

import torch
from torch import nn

from accelbench.reference.snn_bptt.model import SpikingClassifier, SpikingOutput
from accelbench.submissions.a100.snn_bptt.lif import lif, neuron_constants
from accelbench.submissions.a100.snn_bptt.sparse import linear_events


def decay_matrix(steps: int, beta: float, device: torch.device) -> torch.Tensor:
    """D (steps, steps) float32 with D[t, k] = beta^(t - k) for k <= t, else 0 (powers taken in
    float64, then rounded once), so that m = D @ I is the leaky integrator's whole trajectory."""
    t = torch.arange(steps, dtype=torch.float64)
    lags = t[:, None] - t[None, :]
    powers = torch.where(lags >= 0, torch.tensor(beta, dtype=torch.float64) ** lags.clamp(min=0), 0.0)
    return powers.to(device=device, dtype=torch.float32)


class FastSpikingClassifier(SpikingClassifier):
    """The reference network; `max_density` is the spike density below which a synapse
    propagates events instead of a dense product (0: always dense, no density is measured)."""

    def __init__(self, *args, max_density: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_density = max_density
        self._decay: dict[tuple[int, torch.device], torch.Tensor] = {}

    @classmethod
    def like(cls, network: SpikingClassifier, max_density: float = 0.0) -> FastSpikingClassifier:
        """A fast copy of a reference network (its weights, on its device)."""
        first, readout = network.synapses[0], network.readout
        with torch.random.fork_rng(devices=[]):  # its own initialisation is overwritten: draw nothing
            fast = cls(first.in_features, first.out_features, readout.out_features,
                       beta=float(network.neurons[0].beta), readout_beta=float(network.readout_neuron.beta),
                       architecture="recurrent" if len(network.recurrent) else "feedforward",
                       layers=len(network.synapses), max_density=max_density)
        fast.load_state_dict(network.state_dict())
        return fast.to(first.weight.device)

    def forward(self, spikes: torch.Tensor) -> SpikingOutput:
        """`spikes` (batch, steps, channels) of 0/1, in any dtype (uint8 as stored, or float)."""
        if len(self.recurrent):  # the reference's own step-by-step forward
            return super().forward(spikes.to(self.synapses[0].weight.dtype))
        return self.forward_with_spikes(spikes)[0]

    def forward_with_spikes(self, spikes: torch.Tensor) -> tuple[SpikingOutput, list[torch.Tensor]]:
        """The output and each hidden layer's spikes (batch, steps, hidden), float32
        (feed-forward networks)."""
        if len(self.recurrent):
            raise NotImplementedError("recurrent networks run the reference's forward, which keeps no spikes")
        # Time-major inside: each step's (batch, neurons) slice is contiguous for the LIF loop,
        # and the readout's decay product is one (steps x steps) @ (steps x batch*classes) matmul.
        activity = spikes.transpose(0, 1).contiguous()
        hidden, rates = [], []
        for synapse, neuron in zip(self.synapses, self.neurons):
            currents = self._synaptic_currents(activity, synapse)
            beta, threshold = neuron_constants(neuron)
            activity = lif(currents.float(), beta, threshold, time_dim=0)
            hidden.append(activity.transpose(0, 1))
            rates.append(activity.mean(dim=(0, 2)))
        currents = self.readout(activity).float()
        steps = currents.shape[0]
        with torch.autocast(currents.device.type, enabled=False):
            membrane = self._decay_matrix(steps, currents.device) @ currents.reshape(steps, -1)
        logits = membrane.reshape(currents.shape).amax(dim=0)
        return SpikingOutput(logits=logits, firing_rates=torch.stack(rates, dim=1)), hidden

    def _synaptic_currents(self, spikes: torch.Tensor, synapse: nn.Linear) -> torch.Tensor:
        if not spikes.is_floating_point():  # the stored raster: 0/1 are exact in every float dtype
            spikes = spikes.to(synapse.weight.dtype)
        return linear_events(spikes, synapse.weight, synapse.bias, self.max_density)

    def _decay_matrix(self, steps: int, device: torch.device) -> torch.Tensor:
        key = (steps, device)
        if key not in self._decay:
            self._decay[key] = decay_matrix(steps, float(self.readout_neuron.beta), device)
        return self._decay[key]
