"""The IPU training session: the reference's model, optimizer and schedule, run by PopTorch.

One process drives one IPU replica (poprun --num-instances N --num-replicas N); PopTorch
all-reduces the gradients across instances. The same network is built from the run's seed on
every rank, so the replicas start from identical weights without a broadcast. The loss is
computed inside forward (`WithMseLoss`), a host call runs `device_iterations` optimizer steps of
`gradient_accumulation` micro-batches each, and learning-rate changes reach the device through
setOptimizer (`DeviceOptimizer`). Evaluation is pseudo-validation by default, as in the seed
(see `evaluation`); the final, reported evaluation always runs an inference graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import TensorDataset

from accelbench.contracts.training import EpochReport, TrainingContext, TrainingSession
from accelbench.reference.neuron_inverter.hyperparameter_log import adamw_keys
from accelbench.reference.neuron_inverter.model import OUTPUTS, NeuronInverter
from accelbench.reference.neuron_inverter.schedule import WarmupThenPlateau
from accelbench.rules.schema import HyperparameterValue
from accelbench.run import distributed
from accelbench.submissions.ipu.common.executors import (
    OneExecutorAtATime,
    calls_for,
    host_batches,
    join_predictions,
)
from accelbench.submissions.ipu.common.plan import require_poprun
from accelbench.submissions.ipu.neuron_inverter.config import SETTINGS, SubmissionSettings, plan_for
from accelbench.submissions.ipu.neuron_inverter.device_optimizer import DeviceOptimizer
from accelbench.submissions.ipu.neuron_inverter.evaluation import restore_buffers, snapshot_buffers
from accelbench.submissions.ipu.neuron_inverter.poplar import NeuronInverterPopTorch, load
from accelbench.submissions.ipu.neuron_inverter.precision import (
    half_with_float_statistics,
    io_dtype,
)
from accelbench.submissions.ipu.neuron_inverter.with_loss import WithMseLoss

RESTING_BETAS = (0.999, 0.999)


class IpuNeuronInverterSession(OneExecutorAtATime, TrainingSession):
    def __init__(
        self, context: TrainingContext, poplar: NeuronInverterPopTorch, settings: SubmissionSettings = SETTINGS
    ) -> None:
        world = context.world
        require_poprun(world, poplar.popdist)
        hp = context.hyperparameters
        self.world = world
        self.plan = plan_for(context, settings)
        self.poplar = poplar
        self.eval_kind = settings.evaluation
        dtype = io_dtype(self.plan.fp16)

        torch.manual_seed(context.seed)  # the same initial weights on every rank
        self.network = NeuronInverter(dropout=float(hp["dropout"]))
        if self.plan.fp16:
            half_with_float_statistics(self.network)
        self.model = WithMseLoss(self.network)
        betas = (float(hp["adam_beta1"]), float(hp["adam_beta2"]))
        eps = float(hp["adam_epsilon"])
        self.optimizer = poplar.adamw(
            self.network.parameters(), lr=float(hp["learning_rate"]), betas=betas, eps=eps,
            weight_decay=float(hp["weight_decay"]),
        )
        resting = poplar.adamw(
            self.network.parameters(), lr=0.0, betas=RESTING_BETAS, eps=eps, weight_decay=0.0
        )
        self.schedule = WarmupThenPlateau(self.optimizer, hp)

        training_options = poplar.options(self.plan, training=True)
        self.trainer = poplar.training_executor(self.model, training_options, self.optimizer)
        self.device_optimizer = DeviceOptimizer(
            self.trainer, self.optimizer, resting, self.schedule
        )
        self.loader = poplar.loader(
            training_options,
            TensorDataset(context.train_inputs.to(dtype), context.train_targets.to(dtype)),
            self.plan,
            asynchronous=settings.asynchronous_loading,
        )
        self.inference_options = poplar.options(self.plan, training=False)
        self.inferencer: Any = None

        self.eval_inputs = context.eval_inputs.to(dtype)
        # Rank 0 holds the largest eval shard; every rank pads to its number of calls.
        self.eval_rows_per_rank = distributed.share(len(self.eval_inputs), world)
        self.zero_targets = torch.zeros((self.plan.combined_batch, OUTPUTS), dtype=dtype)
        true_eval = self.eval_kind == "true"
        self.eval_batches = self._eval_batches(
            self.plan.inference_batch if true_eval else self.plan.combined_batch
        )
        torch.manual_seed(self.plan.seed)  # each rank shuffles its shard its own way

    def warm_up(self) -> None:
        """Compile the training executor, and the inference one for true evaluation."""
        frames = torch.zeros((self.plan.combined_batch, *self.eval_inputs.shape[1:]),
                             dtype=self.eval_inputs.dtype)
        self.trainer.compile(frames, self.zero_targets)
        if self.eval_kind == "true":
            self._use_inferencer()
            self._use_trainer()

    def train_epoch(self, epoch: int) -> EpochReport:
        """One pass over the shard in host calls; the loss is the mean over its micro-batches."""
        self.device_optimizer.start_epoch(epoch)
        self._use_trainer()
        total = torch.zeros((), dtype=torch.float64)
        calls = 0
        for frames, targets in self.loader:
            _, losses = self.trainer(frames, targets)
            total += losses.double().mean()
            calls += 1
        return EpochReport(
            samples=calls * self.plan.combined_batch, train_loss=float(total) / calls
        )

    def predict_eval(self) -> torch.Tensor:
        if self.eval_kind == "true":
            return self._predict_true(self.eval_batches)
        self._use_trainer()
        statistics = snapshot_buffers(self.network)
        with self.device_optimizer.at_rest():
            outputs = [self.trainer(frames, self.zero_targets)[0] for frames in self.eval_batches]
        # On the host, after PopTorch's implicit copy back; then up to the device again.
        restore_buffers(self.network, statistics)
        self.trainer.copyWeightsToDevice()
        return join_predictions(outputs, self.plan.combined_batch, len(self.eval_inputs))

    def predict_final(self) -> torch.Tensor:
        """True predictions from an inference graph, after the training graph lets go."""
        return self._predict_true(self._eval_batches(self.plan.inference_batch))

    def after_eval(self, metric: float) -> None:
        self.device_optimizer.after_eval(metric)

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return adamw_keys(self.optimizer, self.schedule, self.plan.local_batch * self.world.size,
                          self.plan.gradient_accumulation)

    def _eval_batches(self, per_call: int) -> list[torch.Tensor]:
        calls = calls_for(self.eval_rows_per_rank, per_call)
        return host_batches(self.eval_inputs, per_call, calls)

    def _predict_true(self, batches: list[torch.Tensor]) -> torch.Tensor:
        self._use_inferencer()
        outputs = [self.inferencer(frames) for frames in batches]
        self.inferencer.detachFromDevice()  # the IPU is free for training or for the next run
        return join_predictions(outputs, self.plan.inference_batch, len(self.eval_inputs))

    def inference_example(self) -> torch.Tensor:
        return torch.zeros((self.plan.inference_batch, *self.eval_inputs.shape[1:]), dtype=self.eval_inputs.dtype)


def create_session(context: TrainingContext) -> TrainingSession:
    return IpuNeuronInverterSession(context, load())
