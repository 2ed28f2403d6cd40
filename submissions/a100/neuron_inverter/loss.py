"""The reference's loss, as the A100 submission computes it: the mean squared error, taken in
float32 on the network's output whatever the autocast dtype."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from accelbench.submissions.a100.common.precision import Precision


def forward_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                 precision: Precision) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's predictions (in the autocast dtype) and the float32 MSE against `targets`."""
    with precision.autocast_on(inputs.device.type):
        predictions = model(inputs)
    return predictions, functional.mse_loss(predictions.float(), targets)
