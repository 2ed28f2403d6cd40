"""How training batches are drawn from this rank's shard, wherever `placement` put it.

Both kinds shuffle the shard once per epoch with a generator seeded `seed + rank` (as the
reference does) and drop the last partial batch, so every step has the same shape: one
compiled graph, a constant local batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from accelbench.submissions.a100.common.placement import Placement, keep

Batch = tuple[torch.Tensor, torch.Tensor]


class ResidentBatches:
    """The shard sits in the memory of the device that trains on it (the GPU, or the host on
    CPU runs): the permutation is drawn on that device and each batch is a gather there, so
    no step waits for the host."""

    placement: Placement = "device"

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, seed: int) -> None:
        self.inputs, self.targets, self.batch_size = inputs, targets, batch_size
        self.shuffle = torch.Generator(device=inputs.device).manual_seed(seed)

    @property
    def steps(self) -> int:
        return self.inputs.shape[0] // self.batch_size

    def epoch(self) -> Iterator[Batch]:
        order = torch.randperm(self.inputs.shape[0], generator=self.shuffle, device=self.inputs.device)
        for step in range(self.steps):
            yield self._gather(order[step * self.batch_size : (step + 1) * self.batch_size])

    def first(self) -> Batch:
        """The first `batch_size` rows, for warm-up: draws nothing from the shuffle generator."""
        return self.inputs[: self.batch_size], self.targets[: self.batch_size]

    def _gather(self, index: torch.Tensor) -> Batch:
        return self.inputs.index_select(0, index), self.targets.index_select(0, index)


class StreamedBatches:
    """The shard sits in pinned host memory (it does not fit the GPU): the host gathers each
    batch into one of two pinned staging buffers and copies it to the GPU without blocking.

    While the GPU trains on batch k, the host gathers batch k+1 into the other buffer. Before
    it overwrites a buffer it waits on the CUDA event recorded after that buffer's last copy;
    that wait, for a copy two steps back, is the only one."""

    placement: Placement = "pinned_host"

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, seed: int,
                 device: torch.device) -> None:
        self.inputs, self.targets, self.batch_size, self.device = inputs, targets, batch_size, device
        self.shuffle = torch.Generator().manual_seed(seed)
        self.staging = [
            (torch.empty((batch_size, *inputs.shape[1:]), dtype=inputs.dtype, pin_memory=True),
             torch.empty((batch_size, *targets.shape[1:]), dtype=targets.dtype, pin_memory=True))
            for _ in range(2)
        ]
        self.copied = [torch.cuda.Event() for _ in range(2)]

    @property
    def steps(self) -> int:
        return self.inputs.shape[0] // self.batch_size

    def epoch(self) -> Iterator[Batch]:
        order = torch.randperm(self.inputs.shape[0], generator=self.shuffle)
        for step in range(self.steps):
            yield self._send(order[step * self.batch_size : (step + 1) * self.batch_size], step % 2)

    def first(self) -> Batch:
        return self._send(torch.arange(self.batch_size), 0)

    def _send(self, index: torch.Tensor, slot: int) -> Batch:
        staged_inputs, staged_targets = self.staging[slot]
        self.copied[slot].synchronize()
        torch.index_select(self.inputs, 0, index, out=staged_inputs)
        torch.index_select(self.targets, 0, index, out=staged_targets)
        batch = (staged_inputs.to(self.device, non_blocking=True),
                 staged_targets.to(self.device, non_blocking=True))
        self.copied[slot].record()
        return batch


def training_batches(inputs: torch.Tensor, targets: torch.Tensor, input_dtype: torch.dtype,
                     target_dtype: torch.dtype, batch_size: int, seed: int, device: torch.device
                     ) -> ResidentBatches | StreamedBatches:
    """Batches from this rank's shard, kept on `device` when it fits (see `placement`), shuffled
    as the reference does (a generator seeded seed + rank, a fresh permutation per epoch)."""
    where, (kept_inputs, kept_targets) = keep(
        [(inputs, input_dtype), (targets, target_dtype)], device)
    if where == "device":
        return ResidentBatches(kept_inputs, kept_targets, batch_size, seed)
    return StreamedBatches(kept_inputs, kept_targets, batch_size, seed, device)
