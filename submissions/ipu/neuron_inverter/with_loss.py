"""The network with its loss inside forward, as poptorch.trainingModel requires."""

from __future__ import annotations

import torch
from torch import nn


class WithMseLoss(nn.Module):
    """(predictions, mean-squared error) in training mode, predictions alone in eval mode.

    It branches on `self.training`, never on `targets is None`: the seed's port notes that
    PopTorch's forward may depend on the former but not on the latter. MSELoss is one of the
    losses PopTorch recognises as the training loss (docs/user_guide/supported_ops.rst)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        self.loss = nn.MSELoss()

    def forward(
        self, frames: torch.Tensor, targets: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        predictions = self.network(frames)
        if self.training:
            return predictions, self.loss(predictions, targets)
        return predictions
