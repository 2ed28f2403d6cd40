"""One optimizer step in a given precision, with no host synchronisation.

The loss is the reference's: the mean squared error, taken in float32 on the network's output
whatever the autocast dtype, so the optimizer sees the same objective in every precision.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from accelbench.submissions.a100.neuron_inverter.precision import Precision


def forward_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                 precision: Precision) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's predictions (in the autocast dtype) and the float32 MSE against `targets`."""
    with precision.autocast_on(inputs.device.type):
        predictions = model(inputs)
    return predictions, functional.mse_loss(predictions.float(), targets)


class TrainStep:
    """zero_grad -> forward under autocast -> MSE -> backward -> AdamW, the loss scaled for
    fp16. Fused AdamW reads the scaler's inf check on the GPU, so even fp16 never waits for
    the host."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, precision: Precision,
                 device: torch.device) -> None:
        self.model, self.optimizer, self.precision = model, optimizer, precision
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision.scaler)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Train on one batch; the detached loss, still on the device."""
        loss = self.backward(inputs, targets)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss

    def backward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Everything up to the optimizer step: fresh gradients of the (scaled) loss."""
        self.optimizer.zero_grad(set_to_none=True)
        _, loss = forward_loss(self.model, inputs, targets, self.precision)
        self.scaler.scale(loss).backward()
        return loss.detach()
