"""The learning-rate schedule of the seed benchmark: a linear warm-up by epoch, then
ReduceLROnPlateau on the validation loss. Shared by the reference and every submission, so a
submission changes how fast it trains, never what the schedule is.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from accelbench.rules.schema import HyperparameterValue


class WarmupThenPlateau:
    """lr = base * epoch / warmup for the first `warmup` epochs (from 1), then divided by the
    plateau rule on each eval after the warm-up."""

    def __init__(self, optimizer: torch.optim.Optimizer, hp: Mapping[str, HyperparameterValue]) -> None:
        self.optimizer = optimizer
        self.base_lr = float(hp["learning_rate"])
        self.warmup_epochs = int(hp["warmup_epochs"])
        self.epoch = 0
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=float(hp["plateau_factor"]),
            patience=int(hp["plateau_patience"]),
            cooldown=int(hp["plateau_cooldown"]),
        )

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def start_epoch(self, epoch: int) -> bool:
        """Set the warm-up rate for `epoch`; True when the rate changed."""
        self.epoch = epoch
        if epoch > self.warmup_epochs:
            return False
        before = self.lr
        for group in self.optimizer.param_groups:
            group["lr"] = self.base_lr * epoch / self.warmup_epochs
        return self.lr != before

    def after_eval(self, metric: float) -> bool:
        """Step the plateau rule once the warm-up is over, as in the original; True when the
        rate changed."""
        if self.epoch < self.warmup_epochs:
            return False
        before = self.lr
        self.plateau.step(metric)
        return self.lr != before
