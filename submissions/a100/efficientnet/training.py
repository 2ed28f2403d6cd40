"""The efficientnet training session for NVIDIA GPUs (both variants: the hyperparameters name one).

Closed division: the reference's timm B0, AdamW, warm-up-then-exponential schedule, label-smoothed
cross entropy, seeding and shuffling, made faster only in the ways the rules allow — autocast (bf16,
or fp16 with a loss scaler) and TF32, channels-last weights and activations (cuDNN's fast layout
for depthwise and grouped convolutions), torch.compile, the uint8 shard resident on the GPU (the
network normalises it there; streamed from pinned host memory when it does not fit), and no host
synchronisation until the end of an epoch. Several GPUs train with DDP over NCCL, one process per GPU.

On a CPU device the same code runs eagerly in the default layout (DDP over gloo), so in fp32 it
computes the reference's bits and CI can compare the two step by step.

The optimizer is the reference's own `adamw`, so it is not fused: fp16's loss scaler then reads its
inf check on the host once per step (bf16, the default, has no scaler and never waits).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from accelbench.contracts.training import TrainingContext, TrainingSession
from accelbench.reference.efficientnet.model import from_hyperparameters
from accelbench.reference.efficientnet.training import WarmupThenExponential, adamw, adamw_keys
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.a100.common.batches import training_batches
from accelbench.submissions.a100.common.placement import keep
from accelbench.submissions.a100.common.precision import Precision, claim_device, precision_for
from accelbench.submissions.a100.common.session import CudaSessionParts, data_parallel
from accelbench.submissions.a100.common.step import Loss, TrainStep

HYPERPARAMETERS = {"precision": "bf16"}
"""Merged by the runner over the rules' reference hyperparameters: bf16 needs no loss scaling."""


class ScheduledStep(TrainStep):
    """The step after setting the schedule's rate, as the reference's loop does before each step."""

    def __init__(self, loss: Loss, optimizer: torch.optim.Optimizer, schedule: WarmupThenExponential,
                 precision: Precision, device: torch.device) -> None:
        super().__init__(loss, optimizer, precision, device)
        self.schedule = schedule

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self.schedule.step()
        return super().__call__(inputs, targets)


class A100EfficientNetSession(CudaSessionParts, TrainingSession):
    def __init__(self, context: TrainingContext) -> None:
        hp = context.hyperparameters
        if hp["optimizer"] != "adamw":
            raise ValueError("the a100 submission implements AdamW only (the closed division's optimizer)")
        self.precision = precision_for(str(hp["precision"]))
        self.world, self.hp = context.world, hp
        self.device = claim_device(context.device, self.precision)
        on_gpu = self.device.type == "cuda"
        torch.manual_seed(context.seed)  # the same initial weights on every rank, the reference's
        self.network = from_hyperparameters(hp, int(context.dataset_parameters["classes"])).to(self.device)
        if on_gpu:
            # The weights' layout carries through: each convolution's output is channels-last too.
            self.network.to(memory_format=torch.channels_last)
        self.compiled: nn.Module = torch.compile(self.network) if on_gpu else self.network
        self.model = data_parallel(self.compiled, self.world, self.device)
        if self.world.rank:
            torch.manual_seed(context.seed + self.world.rank)  # dropout masks differ per rank
        self.batch_size = int(hp["batch_size"])
        self.eval_batch_size = int(hp["eval_batch_size"])
        self.batches = training_batches(context.train_inputs, context.train_targets, torch.uint8, torch.int64,
                                        self.batch_size, context.seed + self.world.rank, self.device)
        _, (self.eval_inputs,) = keep([(context.eval_inputs, torch.uint8)], self.device)
        self.optimizer = adamw(self.network, hp)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=float(hp["label_smoothing"]))
        self.step = ScheduledStep(self._loss, self.optimizer,
                                  WarmupThenExponential(self.optimizer, hp, self.batches.steps),
                                  self.precision, self.device)

    def _loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The reference's loss, in float32 on the logits whatever the autocast dtype."""
        with self.precision.autocast_on(self.device.type):
            logits = self.model(inputs)
        return self.loss_fn(logits.float(), targets)

    def warm_up(self) -> None:
        """Compile and allocate for the training step and both eval chunk shapes before the clock
        starts. It trains nothing: the optimizer never steps, the gradients are dropped, and batch
        norm's running statistics and the RNG states dropout and drop-path draw from are restored."""
        buffers = {name: buffer.clone() for name, buffer in self.network.named_buffers()}
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
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

    def predict_eval(self) -> torch.Tensor:
        self.network.eval()
        return torch.cat([self._predict(chunk) for chunk in torch.split(self.eval_inputs, self.eval_batch_size)]).cpu()

    def _predict(self, chunk: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), self.precision.autocast_on(self.device.type):
            return self.compiled(chunk.to(self.device, non_blocking=True)).float()

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return adamw_keys(self, self.hp, self.world.size)  # type: ignore[arg-type]  # it reads batch_size only


def create_session(context: TrainingContext) -> TrainingSession:
    return A100EfficientNetSession(context)
