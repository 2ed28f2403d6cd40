"""The neuron-inverter training session for NVIDIA GPUs.

Closed division: the reference's model, AdamW, warm-up-then-plateau schedule, loss, seeding
and sharding, made faster only in the ways the rules allow — autocast (bf16, or fp16 with a
loss scaler) and TF32, fused AdamW, torch.compile, the shard resident on the GPU (or streamed
from pinned host memory when it does not fit), and no host synchronisation until the end of
an epoch. Several GPUs train with DDP over NCCL, one process per GPU. On a CPU device the same
code runs eagerly (DDP over gloo), so CI exercises this exact path.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from accelbench.contracts.training import EpochReport, TrainingContext, TrainingSession
from accelbench.reference.neuron_inverter.hyperparameter_log import adamw_keys
from accelbench.reference.neuron_inverter.model import NeuronInverter
from accelbench.reference.neuron_inverter.schedule import WarmupThenPlateau
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.a100.common.batches import training_batches
from accelbench.submissions.a100.common.placement import keep
from accelbench.submissions.a100.common.precision import claim_device, precision_for
from accelbench.submissions.a100.common.session import CudaSessionParts, data_parallel
from accelbench.submissions.a100.common.step import TrainStep
from accelbench.submissions.a100.neuron_inverter.loss import forward_loss


class A100NeuronInverterSession(CudaSessionParts, TrainingSession):
    def __init__(self, context: TrainingContext) -> None:
        hp = context.hyperparameters
        if hp["optimizer"] != "adamw":
            raise ValueError("the a100 submission implements AdamW only (the closed division's optimizer)")
        self.precision = precision_for(str(hp["precision"]))
        self.world = context.world
        self.device = claim_device(context.device, self.precision)
        on_gpu = self.device.type == "cuda"
        torch.manual_seed(context.seed)  # the same initial weights on every rank
        self.network = NeuronInverter(dropout=float(hp["dropout"])).to(self.device)
        self.compiled: nn.Module = torch.compile(self.network) if on_gpu else self.network
        self.model = data_parallel(self.compiled, self.world, self.device)
        if self.world.rank:
            torch.manual_seed(context.seed + self.world.rank)  # dropout masks differ per rank
        self.optimizer = torch.optim.AdamW(
            self.network.parameters(),
            lr=float(hp["learning_rate"]),
            betas=(float(hp["adam_beta1"]), float(hp["adam_beta2"])),
            eps=float(hp["adam_epsilon"]),
            weight_decay=float(hp["weight_decay"]),
            fused=on_gpu,
        )
        self.schedule = WarmupThenPlateau(self.optimizer, hp)
        self.step = TrainStep(lambda x, y: forward_loss(self.model, x, y, self.precision)[1],
                              self.optimizer, self.precision, self.device)
        self.batch_size = int(hp["batch_size"])
        self.eval_batch_size = int(hp["eval_batch_size"])
        input_dtype = self.precision.storage_dtype(self.device)
        self.batches = training_batches(
            context.train_inputs, context.train_targets, input_dtype, torch.float32, self.batch_size,
            context.seed + self.world.rank, self.device)
        self.eval_placement, (self.eval_inputs,) = keep(
            [(context.eval_inputs, input_dtype)], self.device)

    def warm_up(self) -> None:
        """Compile and allocate for the training step and both eval chunk shapes before the
        clock starts. It trains nothing: the optimizer never steps, the gradients are dropped,
        and BatchNorm's running statistics and the RNG states dropout draws from are restored."""
        buffers = {name: buffer.clone() for name, buffer in self.network.named_buffers()}
        gpus = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=gpus):
            self.model.train()
            self.step.backward(*self.batches.first())
            self.optimizer.zero_grad(set_to_none=True)
            self.network.eval()
            chunks = torch.split(self.eval_inputs, self.eval_batch_size)
            for chunk in (chunks[0], chunks[-1]):  # the full chunk and the remainder
                self._predict(chunk)
        with torch.no_grad():
            for name, buffer in self.network.named_buffers():
                buffer.copy_(buffers[name])

    def train_epoch(self, epoch: int) -> EpochReport:
        self.schedule.start_epoch(epoch)
        return super().train_epoch(epoch)

    def predict_eval(self) -> torch.Tensor:
        self.network.eval()
        return torch.cat(
            [self._predict(chunk) for chunk in torch.split(self.eval_inputs, self.eval_batch_size)]
        ).cpu()

    def _predict(self, chunk: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), self.precision.autocast_on(self.device.type):
            return self.compiled(chunk.to(self.device, non_blocking=True)).float()

    def after_eval(self, metric: float) -> None:
        self.schedule.after_eval(metric)

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return adamw_keys(self.optimizer, self.schedule, self.batch_size * self.world.size)


def create_session(context: TrainingContext) -> TrainingSession:
    return A100NeuronInverterSession(context)
