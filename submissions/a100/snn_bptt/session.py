"""The snn_bptt training session for NVIDIA GPUs.

Closed division: the reference's network (built by the reference's `build_network` at the
same seed, so the same initial weights), loss, regularizer, Adam, seeding and sharding, made
faster only in the ways the rules allow:

  * the fused LIF time loop (lif.py: one autograd node per population, compiled blocks of
    steps on CUDA) and the readout in closed form (model.py);
  * event-driven propagation of sparse spike rasters where it pays (sparse.py: measured on the
    CPU; the GPU runs dense products, its crossover unmeasured);
  * autocast for the synaptic products (bf16, or fp16 with a loss scaler) and TF32, with
    membranes, thresholds, the readout and the loss in fp32;
  * fused Adam; the training split resident on the GPU as uint8 spikes (streamed from pinned
    host memory if it ever does not fit); no host synchronisation until the end of an epoch;
  * DDP over NCCL with a constant local batch, one process per GPU.

On a CPU device the same code runs eagerly (DDP over gloo), so CI exercises this path.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from accelbench.contracts.training import TrainingContext, TrainingSession
from accelbench.reference.snn_bptt.model import SpikingOutput
from accelbench.reference.snn_bptt.training import adam_keys, as_predictions, build_network, regularized_loss
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.a100.common.batches import training_batches
from accelbench.submissions.a100.common.placement import keep
from accelbench.submissions.a100.common.precision import Precision, claim_device, precision_for
from accelbench.submissions.a100.common.session import CudaSessionParts, data_parallel
from accelbench.submissions.a100.common.step import TrainStep
from accelbench.submissions.a100.snn_bptt.model import FastSpikingClassifier
from accelbench.submissions.a100.snn_bptt.sparse import CPU_MAX_DENSITY, GPU_MAX_DENSITY

SPIKE_DTYPE = torch.uint8
"""Rasters are kept as stored: 0/1 are exact in every float dtype, and uint8 is the smallest
(the full split, 65,536 x 100 x 700, is 4.6 GB on the GPU)."""


def max_density_for(device: torch.device) -> float:
    """The spike density below which synapses propagate events on `device` (sparse.py)."""
    return GPU_MAX_DENSITY if device.type == "cuda" else CPU_MAX_DENSITY


def forward_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, precision: Precision,
                 target_rate: float, strength: float) -> tuple[SpikingOutput, torch.Tensor]:
    """The output (logits and rates in float32 whatever the autocast dtype: the readout and
    the LIF membranes run in fp32) and the reference's regularized loss, in fp32."""
    with precision.autocast_on(inputs.device.type):
        output = model(inputs)
    output = SpikingOutput(output.logits.float(), output.firing_rates.float())
    return output, regularized_loss(output, targets, target_rate, strength)


class A100SpikingSession(CudaSessionParts, TrainingSession):
    def __init__(self, context: TrainingContext) -> None:
        hp = context.hyperparameters
        if hp["optimizer"] != "adam":
            raise ValueError("the a100 submission implements Adam only (the closed division's optimizer)")
        self.precision = precision_for(str(hp["precision"]))
        self.world = context.world
        self.device = claim_device(context.device, self.precision)
        on_gpu = self.device.type == "cuda"
        torch.manual_seed(context.seed)  # the reference's weights, the same on every rank
        self.network = FastSpikingClassifier.like(build_network(context), max_density_for(self.device))
        self.network.to(self.device)
        self.model = data_parallel(self.network, self.world, self.device)
        self.optimizer = torch.optim.Adam(
            self.network.parameters(),
            lr=float(hp["learning_rate"]),
            betas=(float(hp["adam_beta1"]), float(hp["adam_beta2"])),
            eps=float(hp["adam_epsilon"]),
            fused=on_gpu,
        )
        self.batch_size = int(hp["batch_size"])
        self.eval_batch_size = int(hp["eval_batch_size"])
        target_rate, strength = float(hp["target_rate"]), float(hp["rate_regularization"])
        self.step = TrainStep(
            lambda x, y: forward_loss(self.model, x, y, self.precision, target_rate, strength)[1],
            self.optimizer, self.precision, self.device)
        self.batches = training_batches(context.train_inputs, context.train_targets, SPIKE_DTYPE, torch.int64,
                                        self.batch_size, context.seed + self.world.rank, self.device)
        self.eval_placement, (self.eval_inputs,) = keep([(context.eval_inputs, SPIKE_DTYPE)], self.device)

    def warm_up(self) -> None:
        """Compile and allocate for the training step and both eval chunk shapes before the
        clock starts. It trains nothing: the optimizer never steps and the gradients are
        dropped (the network has no buffers and draws no random numbers)."""
        self.model.train()
        self.step.backward(*self.batches.first())
        self.optimizer.zero_grad(set_to_none=True)
        chunks = torch.split(self.eval_inputs, self.eval_batch_size)
        for chunk in (chunks[0], chunks[-1]):  # the full chunk and the remainder
            self._predict(chunk)

    def predict_eval(self) -> dict[str, torch.Tensor]:
        self.network.eval()
        parts = [self._predict(chunk) for chunk in torch.split(self.eval_inputs, self.eval_batch_size)]
        return as_predictions(SpikingOutput(*(torch.cat(field) for field in zip(*parts))))

    def _predict(self, chunk: torch.Tensor) -> SpikingOutput:
        with torch.no_grad(), self.precision.autocast_on(self.device.type):
            output = self.network(chunk.to(self.device, non_blocking=True))
        return SpikingOutput(output.logits.float(), output.firing_rates.float())

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return adam_keys(self.optimizer, self.batch_size * self.world.size)


def create_session(context: TrainingContext) -> TrainingSession:
    return A100SpikingSession(context)
