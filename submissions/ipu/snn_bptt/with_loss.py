"""The network with the reference's loss inside forward, as poptorch.trainingModel requires.

The loss is the reference's `regularized_loss` (cross-entropy of the peak readout potentials plus
`strength * sum over layers of (mean layer rate - target_rate)^2`), which PopTorch does not
recognise as a loss of its own, so the training graph marks it with
`poptorch.identity_loss(loss, reduction="none")` (graphcore/poptorch python/ops.py): the marker
is passed in, so the same module runs on the CPU with no marker at all.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from accelbench.reference.snn_bptt.training import regularized_loss


def unmarked(loss: torch.Tensor) -> torch.Tensor:
    """The CPU's loss marker: none."""
    return loss


class WithSpikingLoss(nn.Module):
    """The marked loss in training mode; (logits, firing rates) in eval mode.

    It branches on `self.training`, never on `labels is None` (PopTorch traces one mode per
    executor, and the seed's port notes forward may depend on the former only). Only the loss
    leaves the training graph: nothing else is needed on the host while training."""

    def __init__(
        self,
        network: nn.Module,
        *,
        target_rate: float,
        strength: float,
        identity_loss: Callable[[torch.Tensor], torch.Tensor] = unmarked,
    ) -> None:
        super().__init__()
        self.network = network
        self.target_rate = target_rate
        self.strength = strength
        self.identity_loss = identity_loss

    def forward(
        self, spikes: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        output = self.network(spikes)
        if self.training:
            return self.identity_loss(regularized_loss(output, labels, self.target_rate, self.strength))
        return output.logits, output.firing_rates
