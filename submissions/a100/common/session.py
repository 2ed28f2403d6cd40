"""The parts of an A100 training session that do not depend on the workload."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from accelbench.contracts.training import EpochReport
from accelbench.run.world import World
from accelbench.submissions.a100.common.batches import ResidentBatches, StreamedBatches
from accelbench.submissions.a100.common.step import TrainStep


def data_parallel(module: nn.Module, world: World, device: torch.device) -> nn.Module:
    """`module` under DDP when the run has several processes (the suite has joined the process
    group, NCCL or gloo), else itself."""
    if world.size == 1:
        return module
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


class CudaSessionParts:
    """Mixed into an A100 session that sets `device`, `model`, `step` and `batches`."""

    device: torch.device
    model: nn.Module
    step: TrainStep
    batches: ResidentBatches | StreamedBatches
    batch_size: int

    def synchronize(self) -> None:
        """The harness reads its clock only after the GPU has finished the queued steps."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def train_epoch(self, epoch: int) -> EpochReport:
        """One pass over the shard; the losses stay on the device until the epoch's end."""
        self.model.train()
        total = torch.zeros((), device=self.device)
        for inputs, targets in self.batches.epoch():
            total += self.step(inputs, targets)
        steps = self.batches.steps
        return EpochReport(samples=steps * self.batch_size, train_loss=float(total) / steps)
