"""One optimizer step in a given precision, with no host synchronisation.

The workload gives the loss (the reference's, taken in float32 on the network's output whatever
the autocast dtype, so the optimizer sees the same objective in every precision); the step
scales it for fp16, and fused optimizers read the scaler's inf check on the GPU, so even fp16
never waits for the host.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from accelbench.submissions.a100.common.precision import Precision

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(inputs, targets) -> the float32 loss of the model being trained, forward under autocast."""


class TrainStep:
    """zero_grad -> forward and loss (`loss`) -> backward -> optimizer step, the loss scaled
    for fp16."""

    def __init__(self, loss: Loss, optimizer: torch.optim.Optimizer, precision: Precision,
                 device: torch.device) -> None:
        self.loss, self.optimizer = loss, optimizer
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
        loss = self.loss(inputs, targets)
        self.scaler.scale(loss).backward()
        return loss.detach()
