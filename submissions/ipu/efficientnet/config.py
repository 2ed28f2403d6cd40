"""How the rules' batches map onto the IPU executors of the efficientnet family (the plan itself:
`accelbench.submissions.ipu.common.plan`). Plain Python: tested on the CPU.

Graphcore's own settings (graphcore/examples vision/cnns/pytorch, train/configs.yml and
inference/configs.yml) are the starting point, changed where the suite's rules or the shared plan
differ, and none has been tuned on an IPU:

- Training (efficientnet-b0-g16-gn-pod16): micro-batch 20, gradient accumulation 5, 8 replicas of
  two pipelined IPUs, RMSprop. The rules fix AdamW and a batch of 64 (128 at full), which 20 does
  not divide, and the shared plan drives one IPU per replica without pipelining, so the
  micro-batch here is 16: 4 accumulated passes per batch of 64, 8 at full. Batch norm (the
  depthwise B0) then normalises over 16 samples instead of the reference's 64, which the closed
  division allows; group norm (g16) is per sample and does not see the difference.
- Inference: micro-batch 49 (B0) and 106 (B0 g16), device_iterations 128, replicas 1. A host call
  here must be exactly the rules' batch_size (a power of two up to 1024 in the closed division),
  so the micro-batches are the powers of two below Graphcore's, 32 and 64, and device_iterations
  is what makes up the batch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from accelbench.contracts.inference import InferenceContext
from accelbench.contracts.training import TrainingContext
from accelbench.errors import UserError
from accelbench.submissions.ipu.common import serving
from accelbench.submissions.ipu.common.plan import (
    IpuPlan,
    available_precision,
    device_iterations,
    executable_cache_dir,
    implemented_precision,
)

SETTINGS_FILE = "accelbench/submissions/ipu/efficientnet/config.py"
PRECISIONS = ("fp16", "fp32")
"""What a GC200 computes natively; the rules' tf32 and bf16 are not IPU number formats."""


@dataclass(frozen=True)
class TrainingSettings:
    """The choices the rules leave to the training submission, in code so the source hash records them."""

    micro_batch: int = 16
    """Samples per forward/backward pass of one replica. Unverified at 224 px (full scale), where
    Graphcore split B0 g16 over two IPUs at 20: if it does not fit, use 8."""
    replicas: int = 1
    """Data-parallel IPUs this process drives (poptorch replicationFactor), when it is the only
    process; under poprun each instance drives one replica, which popdist sets."""
    max_device_iterations: int = 8
    """At most this many optimizer steps per host call; the plan takes the largest count that
    divides the epoch's steps, so no batch the reference trains on is dropped."""
    half_partials: bool = True
    """With precision fp16, partial sums of convolutions and matmuls in fp16 too, as Graphcore ran."""
    loss_scaling: float = 128.0
    """With precision fp16, the loss (and so every gradient) is scaled by this before the backward
    pass and the gradients unscaled in the optimizer, as Graphcore's configuration has it."""
    stochastic_rounding: bool = True
    """With precision fp16, round the fp16 weight updates stochastically. PopTorch 3.x has no
    float32 master weights (Graphcore trained "16.32" through the tracing frontend's implicit
    casts), so without it late, small AdamW steps on weights near 1 (the norms' scales) would round
    away."""
    asynchronous_loading: bool = False
    """poptorch.DataLoaderMode.Async instead of Sync (fewer moving parts while unproven)."""


@dataclass(frozen=True)
class ServingSettings:
    """The choices the rules leave to the inference submission, in code so the source hash records them."""

    depthwise_micro_batch: int = 32
    """Samples per forward pass of the throughput executor for B0 (group size 1)."""
    grouped_micro_batch: int = 64
    """The same for the grouped variants (B0 g16)."""
    latency_micro_batch: int = 1
    """Samples per host call of the latency executor, which serves SingleStream's single samples."""
    half_partials: bool = True
    """With precision fp16, partial sums in fp16 too (Graphcore's half_partial: true)."""


TRAINING = TrainingSettings()
SERVING = ServingSettings()


def training_plan(
    context: TrainingContext, settings: TrainingSettings = TRAINING, environ: Mapping[str, str] = os.environ
) -> IpuPlan:
    """This process's plan, or a one-line UserError naming the fix. The harness hands every rank
    whole batches (`distributed.training_shard`), so an epoch has at least one step."""
    hp = context.hyperparameters
    precision = implemented_precision(hp, "adamw", "AdamW", PRECISIONS)
    if settings.replicas > 1 and context.world.size > 1:
        raise UserError(
            f"{settings.replicas} replicas per process with {context.world.size} processes: poprun places one "
            f"replica on each instance (--num-instances N --num-replicas N); set replicas=1 in {SETTINGS_FILE}"
        )
    batch = int(hp["batch_size"])
    per_pass = settings.micro_batch * settings.replicas
    if batch % per_pass:
        nearest = max(per_pass, round(batch / per_pass) * per_pass)
        raise UserError(
            f"batch_size {batch} is not a multiple of the IPU micro-batch {settings.micro_batch} x "
            f"{settings.replicas} replicas: use --hparam batch_size={nearest} or change {SETTINGS_FILE}"
        )
    return IpuPlan(
        micro_batch=settings.micro_batch,
        gradient_accumulation=batch // per_pass,
        device_iterations=device_iterations(len(context.train_inputs) // batch, settings.max_device_iterations),
        seed=context.seed + context.world.rank,
        executable_cache_dir=executable_cache_dir(environ),
        fp16=settings.half_partials and precision == "fp16",
        replicas_per_process=settings.replicas,
    )


def serving_plan(
    context: InferenceContext, settings: ServingSettings = SERVING, environ: Mapping[str, str] = os.environ
) -> serving.ServingPlan:
    """The session's executors, smallest host call first (`common.serving`: a latency executor and
    a throughput one of exactly batch_size samples), or a one-line UserError."""
    precision = available_precision(context.hyperparameters, PRECISIONS)
    batch = context.batch_size
    grouped = int(context.hyperparameters["group_size"]) > 1
    micro = min(settings.grouped_micro_batch if grouped else settings.depthwise_micro_batch, batch)
    if batch % micro:
        raise UserError(
            f"batch_size {batch} is not a multiple of the IPU micro-batch {micro}: use "
            f"--hparam batch_size={max(micro, round(batch / micro) * micro)} or change {SETTINGS_FILE}"
        )
    return serving.serving_plan(precision, batch, micro, settings.latency_micro_batch, settings.half_partials,
                                context.seed, environ)
