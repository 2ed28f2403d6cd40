"""The efficientnet reference training: timm's B0 (depthwise or g16) with AdamW, label smoothing
and weight decay; the learning rate rises linearly over the warm-up epochs, step by step, then
decays exponentially per epoch, as Graphcore's configuration (after the EfficientNet paper's) has it.

The seed trained with TensorFlow's RMSprop (timm's RMSpropTF); at its settings (momentum 0.9,
epsilon 1e-3) and a rate of 0.01 or 0.002 the depthwise B0 stayed near chance on the smoke set for
6 to 15 epochs while AdamW learned, so the reference is AdamW and RMSprop is left to the open division.

The training split stays in memory as uint8 images (the network normalises them), batches are
drawn from a seeded order per rank, and several processes keep their replicas in step with DDP.
Left out of the seed's recipe, because they only pay off over its 350 epochs: the weight
average (EMA), mixup and the automatic loss scaling of fp16.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from accelbench.contracts.training import EpochReport, TrainingContext, TrainingSession
from accelbench.reference.efficientnet.model import EfficientNetB0, from_hyperparameters
from accelbench.rules.schema import HyperparameterValue


def adamw(network: nn.Module, hp: Mapping[str, HyperparameterValue]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(network.parameters(), lr=float(hp["learning_rate"]),
                             betas=(float(hp["adam_beta1"]), float(hp["adam_beta2"])),
                             eps=float(hp["adam_epsilon"]), weight_decay=float(hp["weight_decay"]))


class WarmupThenExponential:
    """lr(step) = base * min(1, (step + 1) / warm-up steps) * decay ** (completed epochs after warm-up)."""

    def __init__(self, optimizer: torch.optim.Optimizer, hp: Mapping[str, HyperparameterValue],
                 steps_per_epoch: int) -> None:
        self.optimizer = optimizer
        self.base = float(hp["learning_rate"])
        self.warmup_steps = max(1, round(float(hp["warmup_epochs"]) * steps_per_epoch))
        self.decay = float(hp["lr_decay"])
        self.steps_per_epoch = steps_per_epoch
        self.step_count = 0

    def learning_rate(self) -> float:
        warm = min(1.0, (self.step_count + 1) / self.warmup_steps)
        decayed_epochs = max(0, self.step_count - self.warmup_steps) // self.steps_per_epoch
        return self.base * warm * self.decay ** decayed_epochs

    def step(self) -> None:
        """Set the rate for the next optimizer step, then count it."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        self.step_count += 1


class ImageClassifierTrainer:
    """One pass at a time over in-memory uint8 images; shared by the session and the weights recipe."""

    def __init__(self, network: EfficientNetB0, model: nn.Module, hp: Mapping[str, HyperparameterValue],
                 inputs: torch.Tensor, targets: torch.Tensor, shuffle: torch.Generator) -> None:
        self.network, self.model = network, model
        self.inputs, self.targets, self.shuffle = inputs, targets, shuffle
        self.batch_size = int(hp["batch_size"])
        self.steps_per_epoch = max(1, inputs.shape[0] // self.batch_size)
        self.optimizer = adamw(network, hp)
        self.schedule = WarmupThenExponential(self.optimizer, hp, self.steps_per_epoch)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=float(hp["label_smoothing"]))

    def epoch(self) -> EpochReport:
        self.model.train()
        order = torch.randperm(self.inputs.shape[0], generator=self.shuffle).to(self.inputs.device)
        total = torch.zeros((), device=self.inputs.device)
        for step in range(self.steps_per_epoch):
            batch = order[step * self.batch_size : (step + 1) * self.batch_size]
            self.schedule.step()
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(self.inputs[batch]), self.targets[batch])
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
        return EpochReport(samples=self.steps_per_epoch * self.batch_size,
                           train_loss=float(total) / self.steps_per_epoch)


def adamw_keys(trainer: ImageClassifierTrainer, hp: Mapping[str, HyperparameterValue],
               world_size: int) -> dict[str, HyperparameterValue]:
    """MLPerf's hyperparameter keys for the event log."""
    return {
        "opt_name": "adamw",
        "opt_base_learning_rate": float(hp["learning_rate"]),
        "opt_adam_beta_1": float(hp["adam_beta1"]),
        "opt_adam_beta_2": float(hp["adam_beta2"]),
        "opt_adam_epsilon": float(hp["adam_epsilon"]),
        "opt_learning_rate_warmup_epochs": float(hp["warmup_epochs"]),
        "opt_weight_decay": float(hp["weight_decay"]),
        "global_batch_size": trainer.batch_size * world_size,
        "gradient_accumulation_steps": 1,
    }


class EfficientNetSession(TrainingSession):
    def __init__(self, context: TrainingContext) -> None:
        hp = context.hyperparameters
        if hp["optimizer"] != "adamw" or hp["precision"] != "fp32":
            raise ValueError("the reference implements AdamW in fp32 only")
        self.device = torch.device(context.device)
        self.world = context.world
        self.hp = hp
        torch.manual_seed(context.seed)  # the same initial weights on every rank
        self.network = from_hyperparameters(hp, int(context.dataset_parameters["classes"])).to(self.device)
        self.model: nn.Module = self.network
        if self.world.size > 1:
            self.model = DistributedDataParallel(self.network)
        if self.world.rank:
            torch.manual_seed(context.seed + self.world.rank)  # dropout masks differ per rank
        self.trainer = ImageClassifierTrainer(
            self.network, self.model, hp, context.train_inputs.to(self.device),
            context.train_targets.to(self.device), torch.Generator().manual_seed(context.seed + self.world.rank))
        self.eval_batch_size = int(hp["eval_batch_size"])
        self.eval_inputs = context.eval_inputs.to(self.device)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def warm_up(self) -> None:
        """One forward pass in eval mode so lazy allocations happen before the clock starts."""
        self.network.eval()
        with torch.no_grad():
            self.network(self.trainer.inputs[: self.trainer.batch_size])

    def train_epoch(self, epoch: int) -> EpochReport:
        return self.trainer.epoch()

    def predict_eval(self) -> torch.Tensor:
        self.network.eval()
        with torch.no_grad():
            return torch.cat([self.network(chunk).float().cpu()
                              for chunk in torch.split(self.eval_inputs, self.eval_batch_size)])

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return adamw_keys(self.trainer, self.hp, self.world.size)


def create_session(context: TrainingContext) -> TrainingSession:
    return EfficientNetSession(context)
