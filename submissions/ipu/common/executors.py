"""Feeding this rank's eval inputs through executors of a fixed batch, in order, and switching
the IPU between a session's training and inference executors.

A compiled IPU executor takes exactly one host batch per call, so the inputs are padded to a
whole number of calls, run, and the padding's predictions dropped. Every rank makes the same
number of calls (the largest shard decides): when each call is a training step whose gradients
are all-reduced across the PopDist instances (pseudo-validation), a rank that stopped early would
leave the others waiting.
"""

from __future__ import annotations

import torch


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
