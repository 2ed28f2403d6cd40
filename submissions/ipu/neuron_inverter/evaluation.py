"""Feeding this rank's eval inputs through executors of a fixed batch, in order, and keeping
them out of the model's state.

A compiled IPU executor takes exactly one host batch per call, so the inputs are padded to a
whole number of calls, run, and the padding's predictions dropped. Every rank makes the same
number of calls (the largest shard decides): in pseudo-validation each call is a training step
whose gradients are all-reduced across the PopDist instances, so a rank that stopped early
would leave the others waiting.

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


def calls_for(rows: int, per_call: int) -> int:
    """Host calls that cover `rows` samples, `per_call` at a time (the last one padded)."""
    return -(-rows // per_call)


def pad_by_cycling(inputs: torch.Tensor, rows: int) -> torch.Tensor:
    """`inputs` extended to `rows` rows by repeating its own rows from the start, so a padded
    micro-batch has batch-norm statistics like a real one; zeros when there are no rows."""
    if len(inputs) == rows:
        return inputs
    if len(inputs) == 0:
        return inputs.new_zeros((rows, *inputs.shape[1:]))
    return inputs[torch.arange(rows) % len(inputs)]


def host_batches(inputs: torch.Tensor, per_call: int, calls: int) -> list[torch.Tensor]:
    """`inputs`, padded to `calls` host calls of `per_call` rows each, split per call."""
    return list(torch.split(pad_by_cycling(inputs, per_call * calls), per_call))


def join_predictions(outputs: list[torch.Tensor], per_call: int, rows: int) -> torch.Tensor:
    """The first `rows` predictions, in input order, as a CPU float32 tensor.

    Every call must have returned one prediction per input: that is what
    poptorch.OutputMode.All promises, and the one assumption here no CPU test can check."""
    for index, output in enumerate(outputs):
        if len(output) != per_call:
            raise RuntimeError(
                f"host call {index} returned {len(output)} predictions for {per_call} inputs: "
                "the executor must run with poptorch.OutputMode.All"
            )
    return torch.cat(outputs)[:rows].float().cpu()


def snapshot_buffers(module: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every buffer (the batch-norm running statistics of this network)."""
    return {name: buffer.detach().clone() for name, buffer in module.named_buffers()}


def restore_buffers(module: nn.Module, snapshot: dict[str, torch.Tensor]) -> None:
    """Write `snapshot` back into the module's buffers, in place."""
    with torch.no_grad():
        for name, buffer in module.named_buffers():
            buffer.copy_(snapshot[name])


class OneExecutorAtATime:
    """Switches the IPU between a session's training and inference executors: only one holds it
    at a time (one replica per process). The session provides `trainer`, `inferencer` (None
    until first used), `model`, `poplar`, `inference_options` and `inference_example()`."""

    def inference_example(self) -> torch.Tensor:
        """A zero batch of the inference executor's input shape and dtype, to compile it."""
        raise NotImplementedError

    def _use_trainer(self) -> None:
        if self.inferencer is not None and self.inferencer.isAttachedToDevice():
            self.inferencer.detachFromDevice()
        self.model.train()
        if not self.trainer.isAttachedToDevice():
            self.trainer.attachToDevice()

    def _use_inferencer(self) -> None:
        if self.trainer.isAttachedToDevice():
            self.trainer.detachFromDevice()  # PopTorch copies the trained weights to the host first
        self.model.eval()
        if self.inferencer is None:
            self.inferencer = self.poplar.inference_executor(self.model, self.inference_options)
            self.inferencer.compile(self.inference_example())
        elif not self.inferencer.isAttachedToDevice():
            self.inferencer.attachToDevice()
