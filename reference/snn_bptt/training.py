"""The snn_bptt reference training session: BPTT through the unrolled LIF network, with Adam.

The loss is the cross-entropy of the readout's peak membrane potentials plus a firing-rate
regularizer, `rate_regularization * sum over hidden layers of ((layer rate - target_rate) /
target_rate)^2`, which holds the network's activity at the level the rules' variant names
(about 10% of neuron-steps for the dense variant, 1% for the sparse one). The deviation is
relative so that one strength holds either level: an absolute one strong enough at 10% lets
the cross-entropy pull a 1% network up to 2%. Predictions carry each sample's
class scores and per-layer firing rates, so the harness measures both accuracy and activity.
The training split stays in memory as uint8 spikes and is cast per batch.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from accelbench.contracts.training import EpochReport, TrainingContext, TrainingSession
from accelbench.judging.quality import FIRING_RATE_PREFIX, PRIMARY_OUTPUT
from accelbench.reference.snn_bptt.model import SpikingClassifier, SpikingOutput
from accelbench.rules.schema import HyperparameterValue


def build_network(context: TrainingContext, network: type[nn.Module] = SpikingClassifier) -> nn.Module:
    """The network the rules fix, sized by the dataset (channels, classes) at this scale; a
    submission passes its own class with the reference's constructor."""
    hp, data = context.hyperparameters, context.dataset_parameters
    return network(
        inputs=int(data["channels"]),
        hidden=int(hp["hidden"]),
        classes=int(data["classes"]),
        beta=float(hp["membrane_decay"]),
        readout_beta=float(hp["readout_decay"]),
        architecture=str(hp["architecture"]),
        weight_gain=float(hp["weight_gain"]),
    )


def regularized_loss(output: SpikingOutput, labels: torch.Tensor, target_rate: float, strength: float) -> torch.Tensor:
    """Cross-entropy plus the squared relative distance of each hidden layer's mean rate from the target."""
    layer_rates = output.firing_rates.mean(dim=0)
    penalty = ((layer_rates - target_rate) / target_rate).square().sum()
    return nn.functional.cross_entropy(output.logits, labels) + strength * penalty


def as_predictions(output: SpikingOutput) -> dict[str, torch.Tensor]:
    """Class scores and per-layer firing rates per sample, named as the rules measure them."""
    named = {PRIMARY_OUTPUT: output.logits.float().cpu()}
    for layer in range(output.firing_rates.shape[1]):
        named[f"{FIRING_RATE_PREFIX}hidden_{layer + 1}"] = output.firing_rates[:, layer].float().cpu()
    return named


def adam_keys(optimizer: torch.optim.Optimizer, global_batch_size: int,
              gradient_accumulation_steps: int = 1) -> dict[str, HyperparameterValue]:
    """MLPerf's hyperparameter keys for the event log."""
    group = optimizer.param_groups[0]
    return {
        "opt_name": "adam",
        "opt_base_learning_rate": float(group["lr"]),
        "opt_adam_beta_1": float(group["betas"][0]),
        "opt_adam_beta_2": float(group["betas"][1]),
        "opt_adam_epsilon": float(group["eps"]),
        "global_batch_size": global_batch_size,
        "gradient_accumulation_steps": gradient_accumulation_steps,
    }


class SpikingSession(TrainingSession):
    def __init__(self, context: TrainingContext) -> None:
        hp = context.hyperparameters
        if hp["optimizer"] != "adam" or hp["precision"] != "fp32":
            raise ValueError("the reference implements Adam in fp32 only")
        self.device = torch.device(context.device)
        self.world = context.world
        torch.manual_seed(context.seed)  # the same initial weights on every rank
        self.network = build_network(context).to(self.device)
        self.model: nn.Module = self.network
        if self.world.size > 1:
            self.model = DistributedDataParallel(self.network)
        self.shuffle = torch.Generator().manual_seed(context.seed + self.world.rank)
        self.optimizer = torch.optim.Adam(
            self.network.parameters(),
            lr=float(hp["learning_rate"]),
            betas=(float(hp["adam_beta1"]), float(hp["adam_beta2"])),
            eps=float(hp["adam_epsilon"]),
        )
        self.batch_size = int(hp["batch_size"])
        self.eval_batch_size = int(hp["eval_batch_size"])
        self.target_rate = float(hp["target_rate"])
        self.strength = float(hp["rate_regularization"])
        self.inputs = context.train_inputs.to(self.device)
        self.targets = context.train_targets.to(self.device)
        self.eval_inputs = context.eval_inputs.to(self.device)

    def warm_up(self) -> None:
        """One forward pass so lazy allocations happen before the clock starts."""
        with torch.no_grad():
            self.network(self.inputs[: self.batch_size].float())

    def train_epoch(self, epoch: int) -> EpochReport:
        self.model.train()
        order = torch.randperm(self.inputs.shape[0], generator=self.shuffle).to(self.device)
        steps = self.inputs.shape[0] // self.batch_size
        total = torch.zeros((), device=self.device)
        for step in range(steps):
            batch = order[step * self.batch_size : (step + 1) * self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            output = self.model(self.inputs[batch].float())
            loss = regularized_loss(output, self.targets[batch], self.target_rate, self.strength)
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
        return EpochReport(samples=steps * self.batch_size, train_loss=float(total) / steps)

    def predict_eval(self) -> dict[str, torch.Tensor]:
        self.network.eval()
        with torch.no_grad():
            parts = [self.network(chunk.float()) for chunk in torch.split(self.eval_inputs, self.eval_batch_size)]
        return as_predictions(SpikingOutput(*(torch.cat(field) for field in zip(*parts))))

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return adam_keys(self.optimizer, self.batch_size * self.world.size)


def create_session(context: TrainingContext) -> TrainingSession:
    return SpikingSession(context)
