"""The IPU training session of the efficientnet workloads: the reference's network, loss, AdamW
and schedule, run by PopTorch 3.4.

One process drives `replicas` IPUs (one under poprun: --num-instances N --num-replicas N);
PopTorch averages the gradients over the accumulated micro-batches and the replicas, as the
reference's mean loss and DDP do. The network is built from the run's seed on every rank, so the
replicas start equal without a broadcast. A host call runs `device_iterations` optimizer steps of
`gradient_accumulation` micro-batches each (`config`); the loss is computed inside forward
(`with_loss`), and the learning rate reaches the device between host calls (`device_schedule`).

Every evaluation is a true one (the rules allow no pseudo-validation): the training executor
lets go of the IPU, an inference executor on the same module runs the eval split, and lets go
again (`common.executors.OneExecutorAtATime`); PopTorch copies the trained weights to the host
when the training executor detaches, and the inference executor takes them from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import TensorDataset

from accelbench.contracts.training import EpochReport, TrainingContext, TrainingSession
from accelbench.reference.efficientnet.model import from_hyperparameters
from accelbench.reference.efficientnet.training import WarmupThenExponential, adamw, adamw_keys
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.ipu.common.executors import (
    OneExecutorAtATime,
    calls_for,
    host_batches,
    join_predictions,
)
from accelbench.submissions.ipu.common.plan import require_poprun
from accelbench.submissions.ipu.efficientnet.config import TRAINING, TrainingSettings, training_plan
from accelbench.submissions.ipu.efficientnet.device_schedule import RateOnDevice
from accelbench.submissions.ipu.efficientnet.poplar import EfficientNetPopTorch, load
from accelbench.submissions.ipu.efficientnet.precision import half_network
from accelbench.submissions.ipu.efficientnet.with_loss import WithSmoothedCrossEntropy

HYPERPARAMETERS: dict[str, HyperparameterValue] = {"precision": "fp16"}
"""Merged over the rules' reference values: fp16 as Graphcore's EfficientNet ran, with loss
scaling (`config`); the batch and everything else stay the reference's, inside the closed division."""


class IpuEfficientNetTraining(OneExecutorAtATime, TrainingSession):
    eval_kind = "true"

    def __init__(
        self, context: TrainingContext, poplar: EfficientNetPopTorch, settings: TrainingSettings = TRAINING
    ) -> None:
        require_poprun(context.world, poplar.popdist)
        hp = context.hyperparameters
        self.world, self.hp, self.poplar = context.world, hp, poplar
        self.plan = training_plan(context, settings)
        self.batch_size = self.plan.local_batch  # the samples per optimizer step that adamw_keys logs
        half = hp["precision"] == "fp16"

        torch.manual_seed(context.seed)  # the reference's initial weights, on every rank
        self.network = from_hyperparameters(hp, int(context.dataset_parameters["classes"]))
        if half:
            half_network(self.network)
        self.model = WithSmoothedCrossEntropy(self.network, float(hp["label_smoothing"]), poplar.loss_marker())
        self.optimizer = poplar.adamw(adamw(self.network, hp), loss_scaling=settings.loss_scaling if half else 1.0)
        options = poplar.training_options(self.plan, stochastic_rounding=half and settings.stochastic_rounding)
        self.trainer = poplar.training_executor(self.model, options, self.optimizer)
        calls = self.plan.calls_per_epoch(len(context.train_inputs))
        self.rate = RateOnDevice(self.trainer, self.optimizer, WarmupThenExponential(self.optimizer, hp, calls))
        self.loader = poplar.loader(options, TensorDataset(context.train_inputs, context.train_targets), self.plan,
                                    asynchronous=settings.asynchronous_loading)
        self.inference_options = poplar.options(self.plan, training=False)
        self.inferencer: Any = None

        self.eval_inputs = context.eval_inputs  # uint8, as the network takes them
        per_call = self.plan.inference_batch
        self.eval_batches = host_batches(self.eval_inputs, per_call, calls_for(len(self.eval_inputs), per_call))
        torch.manual_seed(self.plan.seed)  # each rank shuffles its shard its own way

    def warm_up(self) -> None:
        """Compile the training executor and the inference one, then hand the IPU back to training."""
        rows = self.plan.combined_batch
        self.trainer.compile(self._images(rows), torch.zeros(rows, dtype=torch.int64))
        self._use_inferencer()
        self._use_trainer()

    def train_epoch(self, epoch: int) -> EpochReport:
        """One pass over the shard in host calls; the loss is the mean over its micro-batches."""
        self._use_trainer()
        total = torch.zeros((), dtype=torch.float64)
        calls = 0
        for images, labels in self.loader:
            self.rate.before_call()
            total += self.trainer(images, labels).double().mean()
            calls += 1
        return EpochReport(samples=calls * self.plan.combined_batch, train_loss=float(total) / calls)

    def predict_eval(self) -> torch.Tensor:
        """Float32 logits of every eval sample, in order, from the inference graph."""
        self._use_inferencer()
        outputs = [self.inferencer(images) for images in self.eval_batches]
        self.inferencer.detachFromDevice()  # the IPU is free for training or for the next run
        return join_predictions(outputs, self.plan.inference_batch, len(self.eval_inputs))

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return {**adamw_keys(self, self.hp, self.world.size),  # type: ignore[arg-type]  # reads .batch_size
                "gradient_accumulation_steps": self.plan.gradient_accumulation}

    def inference_example(self) -> torch.Tensor:
        return self._images(self.plan.inference_batch)

    def _images(self, rows: int) -> torch.Tensor:
        return torch.zeros((rows, *self.eval_inputs.shape[1:]), dtype=torch.uint8)


def create_session(context: TrainingContext) -> TrainingSession:
    return IpuEfficientNetTraining(context, load())
