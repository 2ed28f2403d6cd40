"""Keeping pseudo-validation out of the model's state (the eval inputs go through fixed-batch
executors as `accelbench.submissions.ipu.common.executors` feeds them).

Pseudo-validation (the seed's trick, to avoid switching graphs on the device): the eval inputs
go through the *training* executor while its optimizer is AdamW at learning rate 0 (betas
0.999, no weight decay), so dropout is on and batch norm uses batch statistics; the weights do
not move. That executor needs targets, and this session never sees the eval labels (the harness
keeps them to score the predictions), so it feeds zeros and keeps only the predictions. The
seed fed the true labels instead. The zero targets mean the backward pass feeds gradients
toward zero into Adam's moments during the pass. PopTorch's setOptimizer reads the outgoing
optimizer's state back from the device and writes the incoming one's when it has any (read in
graphcore/poptorch python/_poplar_executor.py, not yet seen on hardware), so restoring the real
optimizer after the pass should restore its moments too; if it did not, a fraction
1 - 0.999**k of each moment would come from the k pseudo steps. The pass also updates the
batch-norm running statistics with the eval inputs; `snapshot_buffers` and `restore_buffers`
put them back, so the final true evaluation depends on training data only.
"""


from __future__ import annotations

import torch
from torch import nn


def snapshot_buffers(module: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every buffer (the batch-norm running statistics of this network)."""
    return {name: buffer.detach().clone() for name, buffer in module.named_buffers()}


def restore_buffers(module: nn.Module, snapshot: dict[str, torch.Tensor]) -> None:
    """Write `snapshot` back into the module's buffers, in place."""
    with torch.no_grad():
        for name, buffer in module.named_buffers():
            buffer.copy_(snapshot[name])
