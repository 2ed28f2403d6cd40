"""The reference training session: AdamW, linear warm-up, then ReduceLROnPlateau on val loss.

Follows the original GPU trainer: the learning rate rises linearly over the warm-up epochs,
then a plateau scheduler driven by the validation loss divides it; the loss is the MSE on the
[-1, 1] targets. The whole training set sits in memory (on the run's device) before the clock
starts, as the seed benchmark's rules require; batches are gathered from it with no host
synchronisation per step.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from mlperf_logging.mllog import constants as mlk
from torch import nn

from accelbench.reference.neuron_inverter.model import NeuronInverter
from accelbench.rules.schema import HyperparameterValue
from accelbench.workload import EpochReport, RunContext, TrainingSession


class NeuronInverterSession(TrainingSession):
    def __init__(self, context: RunContext) -> None:
        hp = context.hyperparameters
        if hp["optimizer"] != "adamw" or hp["precision"] != "fp32":
            raise ValueError("the reference implements AdamW in fp32 only")
        self.device = torch.device(context.device)
        torch.manual_seed(context.seed)  # initial weights and dropout draw from torch's global RNG
        self.shuffle = torch.Generator().manual_seed(context.seed)
        self.model = NeuronInverter(dropout=float(hp["dropout"])).to(self.device)
        self.base_lr = float(hp["learning_rate"])
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=self.base_lr,
            betas=(float(hp["adam_beta1"]), float(hp["adam_beta2"])),
            eps=float(hp["adam_epsilon"]),
            weight_decay=float(hp["weight_decay"]),
        )
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer,
            mode="min",
            factor=float(hp["plateau_factor"]),
            patience=int(hp["plateau_patience"]),
            cooldown=int(hp["plateau_cooldown"]),
        )
        self.batch_size = int(hp["batch_size"])
        self.eval_batch_size = int(hp["eval_batch_size"])
        self.warmup_epochs = int(hp["warmup_epochs"])
        self.inputs = context.train_inputs.to(self.device)
        self.targets = context.train_targets.to(self.device)
        self.eval_inputs = context.eval_inputs.to(self.device)
        self.loss_fn = nn.MSELoss()
        self.epoch = 0

    def warm_up(self) -> None:
        """One forward pass in eval mode so lazy allocations happen before the clock starts."""
        self.model.eval()
        with torch.no_grad():
            self.model(self.inputs[: self.batch_size])

    def train_epoch(self, epoch: int) -> EpochReport:
        self.epoch = epoch
        if epoch <= self.warmup_epochs:  # linear warm-up to the base rate (epochs count from 1)
            for group in self.optimizer.param_groups:
                group["lr"] = self.base_lr * epoch / self.warmup_epochs
        self.model.train()
        order = torch.randperm(self.inputs.shape[0], generator=self.shuffle).to(self.device)
        steps = self.inputs.shape[0] // self.batch_size
        total = torch.zeros((), device=self.device)
        for step in range(steps):
            batch = order[step * self.batch_size : (step + 1) * self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(self.inputs[batch]), self.targets[batch])
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
        return EpochReport(samples=steps * self.batch_size, train_loss=float(total) / steps)

    def predict_eval(self) -> torch.Tensor:
        self.model.eval()
        with torch.no_grad():
            parts = [
                self.model(chunk)
                for chunk in torch.split(self.eval_inputs, self.eval_batch_size)
            ]
        return torch.cat(parts).cpu()

    def after_eval(self, metric: float) -> None:
        """The plateau schedule starts once the warm-up is over, as in the original."""
        if self.epoch >= self.warmup_epochs:
            self.scheduler.step(metric)

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        group = self.optimizer.param_groups[0]
        return {
            mlk.OPT_NAME: mlk.ADAMW,
            mlk.GLOBAL_BATCH_SIZE: self.batch_size,
            mlk.OPT_BASE_LR: self.base_lr,
            mlk.OPT_LR_WARMUP_EPOCHS: self.warmup_epochs,
            mlk.OPT_ADAMW_BETA_1: group["betas"][0],
            mlk.OPT_ADAMW_BETA_2: group["betas"][1],
            mlk.OPT_ADAMW_EPSILON: group["eps"],
            mlk.OPT_ADAMW_WEIGHT_DECAY: group["weight_decay"],
        }


def create_session(context: RunContext) -> TrainingSession:
    return NeuronInverterSession(context)
