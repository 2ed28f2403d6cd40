"""The network with the reference's loss inside forward, as poptorch.trainingModel requires.

The loss is the reference's cross-entropy with label smoothing, taken on float32 logits (as
Graphcore's TrainingModelWithLoss takes log-softmax of `pred.float()`), so an fp16 network's
loss, and the first step of its backward pass, are float32. Label smoothing makes it a sum of two
losses, which PopTorch wants marked as the final loss with `poptorch.identity_loss(loss,
reduction="none")` (docs/user_guide/pytorch_to_poptorch.rst, "Multiple/custom losses"): the
marker is passed in, so the same module runs on the CPU with none.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class WithSmoothedCrossEntropy(nn.Module):
    """The marked loss in training mode, the logits in eval mode.

    It branches on `self.training`, never on `labels is None`: PopTorch compiles one mode per
    executor. Only the loss leaves the training graph; nothing else is needed on the host."""

    def __init__(self, network: nn.Module, label_smoothing: float,
                 mark_loss: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.network = network
        self.loss = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.mark_loss = mark_loss

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.network(images)
        if self.training:
            return self.mark_loss(self.loss(logits.float(), labels))
        return logits
