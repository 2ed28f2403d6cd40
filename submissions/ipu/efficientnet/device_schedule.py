"""The reference's learning-rate schedule on a device that takes a new rate only between host calls.

PopTorch reads the optimizer's rate when it is handed to trainingModel or to `setOptimizer`
(docs/user_guide/pytorch_to_poptorch.rst, "Optimizers"), and a host call runs `device_iterations`
optimizer steps at one rate. So the reference's `WarmupThenExponential` is stepped once per host
call, built with the epoch's host calls as its steps: the same linear warm-up over the same
epochs and the same per-epoch decay, on a grid of host calls instead of optimizer steps (the
same grid when device_iterations is 1). `setOptimizer` follows a change of rate only: each call
ships the optimizer's attributes with the next run, as Graphcore's training loop does.
"""

from __future__ import annotations

from typing import Protocol

import torch

from accelbench.reference.efficientnet.training import WarmupThenExponential


class TakesOptimizer(Protocol):
    """The part of a poptorch training executor (PoplarExecutor) this module uses."""

    def setOptimizer(self, optimizer: torch.optim.Optimizer) -> None: ...


class RateOnDevice:
    """Steps `schedule` (over `optimizer`, stepped per host call) and tells `executor` of every change."""

    def __init__(self, executor: TakesOptimizer, optimizer: torch.optim.Optimizer,
                 schedule: WarmupThenExponential) -> None:
        self.executor, self.optimizer, self.schedule = executor, optimizer, schedule
        self.on_device = schedule.base  # the rate the executor was built with (the optimizer's lr)

    def before_call(self) -> None:
        """Set the rate of the next host call's steps."""
        self.schedule.step()
        rate = self.optimizer.param_groups[0]["lr"]
        if rate != self.on_device:
            self.executor.setOptimizer(self.optimizer)
            self.on_device = rate
