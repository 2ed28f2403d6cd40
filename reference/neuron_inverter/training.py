"""The reference training session: AdamW, linear warm-up, then ReduceLROnPlateau on val loss.

Follows the original GPU trainer: the learning rate rises linearly over the warm-up epochs,
then a plateau scheduler driven by the validation loss divides it; the loss is the MSE on the
[-1, 1] targets. The rank's training shard sits in memory (on the run's device) before the
clock starts, as the seed benchmark's rules require; batches are gathered from it with no host
synchronisation per step. With several processes the model is wrapped in DDP (gloo on CPU,
NCCL on GPUs) and each rank shuffles its own shard, as the original did.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from accelbench.contracts.training import EpochReport, TrainingContext, TrainingSession
from accelbench.reference.neuron_inverter.hyperparameter_log import adamw_keys
from accelbench.reference.neuron_inverter.model import NeuronInverter
from accelbench.reference.neuron_inverter.schedule import WarmupThenPlateau
from accelbench.rules.schema import HyperparameterValue


class NeuronInverterSession(TrainingSession):
    def __init__(self, context: TrainingContext) -> None:
        hp = context.hyperparameters
        if hp["optimizer"] != "adamw" or hp["precision"] != "fp32":
            raise ValueError("the reference implements AdamW in fp32 only")
        self.device = torch.device(context.device)
        self.world = context.world
        torch.manual_seed(context.seed)  # the same initial weights on every rank
        self.network = NeuronInverter(dropout=float(hp["dropout"])).to(self.device)
        self.model: nn.Module = self.network
        if self.world.size > 1:
            self.model = DistributedDataParallel(self.network)
        if self.world.rank:
            torch.manual_seed(context.seed + self.world.rank)  # dropout masks differ per rank
        self.shuffle = torch.Generator().manual_seed(context.seed + self.world.rank)
        self.optimizer = torch.optim.AdamW(
            self.network.parameters(),
            lr=float(hp["learning_rate"]),
            betas=(float(hp["adam_beta1"]), float(hp["adam_beta2"])),
            eps=float(hp["adam_epsilon"]),
            weight_decay=float(hp["weight_decay"]),
        )
        self.schedule = WarmupThenPlateau(self.optimizer, hp)
        self.batch_size = int(hp["batch_size"])
        self.eval_batch_size = int(hp["eval_batch_size"])
        self.inputs = context.train_inputs.to(self.device)
        self.targets = context.train_targets.to(self.device)
        self.eval_inputs = context.eval_inputs.to(self.device)
        self.loss_fn = nn.MSELoss()

    def warm_up(self) -> None:
        """One forward pass in eval mode so lazy allocations happen before the clock starts."""
        self.network.eval()
        with torch.no_grad():
            self.network(self.inputs[: self.batch_size])

    def train_epoch(self, epoch: int) -> EpochReport:
        self.schedule.start_epoch(epoch)
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
        self.network.eval()
        with torch.no_grad():
            parts = [
                self.network(chunk)
                for chunk in torch.split(self.eval_inputs, self.eval_batch_size)
            ]
        return torch.cat(parts).cpu()

    def after_eval(self, metric: float) -> None:
        self.schedule.after_eval(metric)

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return adamw_keys(self.optimizer, self.schedule, self.batch_size * self.world.size)


def create_session(context: TrainingContext) -> TrainingSession:
    return NeuronInverterSession(context)
