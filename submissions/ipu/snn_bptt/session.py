"""The IPU training session: the reference's network, loss and Adam, run by PopTorch.

One process drives one IPU replica (poprun --num-instances N --num-replicas N); PopTorch
all-reduces the gradients across instances, each of which computes the loss, regularizer
included, on its own local batch, as the reference does under DDP. The same network is built
from the run's seed on every rank (and draws the reference's initial weights), so the replicas
start equal without a broadcast. A host call runs `device_iterations` optimizer steps of one
local batch each; the loss is computed inside forward (`with_loss`).

Every evaluation is a true one: the accuracy and the firing-rate bounds need the eval graph's
logits and rates (the rules do not allow pseudo-validation here), so the training executor lets
go of the IPU, an inference executor on the same module runs the eval split, and lets go again.
The switching is neuron_inverter's true-evaluation path; PopTorch copies the trained weights to
the host when the training executor detaches and the inference executor picks them up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from accelbench.contracts.training import EpochReport, Predictions, TrainingContext, TrainingSession
from accelbench.reference.snn_bptt.model import SpikingOutput
from accelbench.reference.snn_bptt.training import adam_keys, as_predictions, build_network
from accelbench.rules.schema import HyperparameterValue
from accelbench.run import distributed
from accelbench.submissions.ipu.common.executors import (
    OneExecutorAtATime,
    calls_for,
    host_batches,
    join_predictions,
)
from accelbench.submissions.ipu.common.plan import require_poprun
from accelbench.submissions.ipu.snn_bptt.config import SETTINGS, SubmissionSettings, plan_for
from accelbench.submissions.ipu.snn_bptt.data import SpikeRasters
from accelbench.submissions.ipu.snn_bptt.network import SpikingNetwork
from accelbench.submissions.ipu.snn_bptt.poplar import SpikingPopTorch, load
from accelbench.submissions.ipu.snn_bptt.precision import feed_dtype, half_synapses, half_weights
from accelbench.submissions.ipu.snn_bptt.with_loss import WithSpikingLoss


class IpuSpikingSession(OneExecutorAtATime, TrainingSession):
    eval_kind = "true"

    def __init__(
        self, context: TrainingContext, poplar: SpikingPopTorch, settings: SubmissionSettings = SETTINGS
    ) -> None:
        world = context.world
        require_poprun(world, poplar.popdist)
        hp = context.hyperparameters
        self.world = world
        self.plan = plan_for(context, settings)
        self.poplar = poplar
        self.dtype = feed_dtype(half_weights(str(hp["precision"])))

        torch.manual_seed(context.seed)  # the reference's initial weights, on every rank
        self.network = build_network(context, SpikingNetwork)
        if self.dtype == torch.half:
            half_synapses(self.network)
        self.model = WithSpikingLoss(
            self.network,
            target_rate=float(hp["target_rate"]),
            strength=float(hp["rate_regularization"]),
            identity_loss=poplar.identity_loss,
        )
        self.optimizer = poplar.adam(
            self.network.parameters(),
            lr=float(hp["learning_rate"]),
            betas=(float(hp["adam_beta1"]), float(hp["adam_beta2"])),
            eps=float(hp["adam_epsilon"]),
        )
        training_options = poplar.options(self.plan, training=True)
        self.trainer = poplar.training_executor(self.model, training_options, self.optimizer)
        self.loader = poplar.loader(
            training_options,
            SpikeRasters(context.train_inputs, context.train_targets, self.dtype),
            self.plan,
            asynchronous=settings.asynchronous_loading,
        )
        self.inference_options = poplar.options(self.plan, training=False)
        self.inferencer: Any = None

        self.raster_shape = tuple(context.train_inputs.shape[1:])  # (steps, channels)
        self.eval_inputs = context.eval_inputs  # uint8, cast one host call at a time
        # Rank 0 holds the largest eval shard; every rank makes its number of calls.
        self.eval_rows_per_rank = distributed.share(len(self.eval_inputs), world)
        self.eval_batches = host_batches(
            self.eval_inputs,
            self.plan.inference_batch,
            calls_for(self.eval_rows_per_rank, self.plan.inference_batch),
        )
        torch.manual_seed(self.plan.seed)  # each rank shuffles its shard its own way

    def warm_up(self) -> None:
        """Compile the training executor and the inference one, then hand the IPU back to
        training."""
        self.trainer.compile(
            torch.zeros((self.plan.combined_batch, *self.raster_shape), dtype=self.dtype),
            torch.zeros(self.plan.combined_batch, dtype=torch.int64),
        )
        self._use_inferencer()
        self._use_trainer()

    def train_epoch(self, epoch: int) -> EpochReport:
        """One pass over the shard in host calls; the loss is the mean over its optimizer steps."""
        self._use_trainer()
        total = torch.zeros((), dtype=torch.float64)
        calls = 0
        for spikes, labels in self.loader:
            losses = self.trainer(spikes, labels)
            total += losses.double().mean()
            calls += 1
        return EpochReport(samples=calls * self.plan.combined_batch, train_loss=float(total) / calls)

    def predict_eval(self) -> Predictions:
        """Logits and per-layer firing rates of every eval sample, from the inference graph."""
        self._use_inferencer()
        logits, rates = [], []
        for batch in self.eval_batches:
            scores, activity = self.inferencer(batch.to(self.dtype))
            logits.append(scores)
            rates.append(activity)
        self.inferencer.detachFromDevice()  # the IPU is free for training or for the next run
        per_call, rows = self.plan.inference_batch, len(self.eval_inputs)
        return as_predictions(
            SpikingOutput(
                logits=join_predictions(logits, per_call, rows),
                firing_rates=join_predictions(rates, per_call, rows),
            )
        )

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return adam_keys(self.optimizer, self.plan.local_batch * self.world.size,
                         self.plan.gradient_accumulation)

    def inference_example(self) -> torch.Tensor:
        return torch.zeros((self.plan.inference_batch, *self.raster_shape), dtype=self.dtype)


def create_session(context: TrainingContext) -> TrainingSession:
    return IpuSpikingSession(context, load())
