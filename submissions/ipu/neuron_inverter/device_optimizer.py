"""The host optimizer and the copy compiled into the training executor, kept equal.

PopTorch reads an optimizer's hyperparameters only when it is handed to trainingModel or to
`executor.setOptimizer` (graphcore/poptorch python/_poplar_executor.py: setOptimizer converts
the optimizer to the dict sent with the next run), so a learning-rate change made on the host
by the shared schedule must be followed by setOptimizer, as the seed's port did after each
warm-up and plateau step. It is called only when the rate changed: each call ships the
optimizer's attributes to the device with the next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import torch

from accelbench.reference.neuron_inverter.schedule import WarmupThenPlateau


class TakesOptimizer(Protocol):
    """The part of a poptorch training executor (PoplarExecutor) this module uses."""

    def setOptimizer(self, optimizer: torch.optim.Optimizer) -> None: ...


class DeviceOptimizer:
    """Drives the schedule and pushes every change to the executor.

    `resting` is the seed's learning-rate-0 optimizer for pseudo-validation:
    AdamW(lr=0, betas=(0.999, 0.999), weight_decay=0) over the same parameters."""

    def __init__(
        self,
        executor: TakesOptimizer,
        optimizer: torch.optim.Optimizer,
        resting: torch.optim.Optimizer,
        schedule: WarmupThenPlateau,
    ) -> None:
        self.executor = executor
        self.optimizer = optimizer
        self.resting = resting
        self.schedule = schedule

    def start_epoch(self, epoch: int) -> None:
        if self.schedule.start_epoch(epoch):
            self.executor.setOptimizer(self.optimizer)

    def after_eval(self, metric: float) -> None:
        if self.schedule.after_eval(metric):
            self.executor.setOptimizer(self.optimizer)

    @contextmanager
    def at_rest(self) -> Iterator[None]:
        """The resting optimizer on the device for the duration, then the real one again."""
        self.executor.setOptimizer(self.resting)
        try:
            yield
        finally:
            self.executor.setOptimizer(self.optimizer)
