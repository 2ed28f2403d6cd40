"""How the rules' batch maps onto one IPU replica for neuron_inverter (the plan itself:
`accelbench.submissions.ipu.common.plan`). The seed's port ran micro-batch 128,
gradientAccumulation 15, deviceIterations 2.

Plain Python: tested on CPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from accelbench.contracts.training import EvalKind, TrainingContext
from accelbench.errors import UserError
from accelbench.submissions.ipu.common.plan import IpuPlan, executable_cache_dir, implemented_precision

SETTINGS_FILE = "accelbench/submissions/ipu/neuron_inverter/config.py"
PRECISIONS = ("fp16", "fp32")


@dataclass(frozen=True)
class SubmissionSettings:
    """The choices the rules leave to this submission.

    They live in code rather than in flags so that the source-tree hash in every result records
    them; edit SETTINGS below to change them."""

    micro_batch: int = 128
    """Samples per forward/backward pass of one replica (the seed's)."""
    device_iterations: int = 2
    """Optimizer steps run on the device per host call (the seed's)."""
    evaluation: EvalKind = "pseudo"
    """'pseudo': evals run the training graph at learning rate 0 (the seed's trick, no graph
    switch); 'true': every eval detaches the training graph and runs an inference graph."""
    asynchronous_loading: bool = False
    """poptorch.DataLoaderMode.Async (a worker process prepares the next batches) instead of
    Sync. The seed loaded asynchronously; Sync is the default here because it has fewer moving
    parts on a machine where none of this has run yet."""


SETTINGS = SubmissionSettings()


def gradient_accumulation(batch_size: int, micro_batch: int) -> int:
    """The accumulation count that makes micro-batches add up to the local batch exactly."""
    if batch_size < micro_batch or batch_size % micro_batch:
        nearest = max(micro_batch, round(batch_size / micro_batch) * micro_batch)
        raise UserError(
            f"batch_size {batch_size} is not a multiple of the IPU micro-batch {micro_batch}: "
            f"use a multiple (e.g. --hparam batch_size={nearest}) or change micro_batch in "
            f"{SETTINGS_FILE}"
        )
    return batch_size // micro_batch


def plan_for(
    context: TrainingContext,
    settings: SubmissionSettings = SETTINGS,
    environ: Mapping[str, str] = os.environ,
) -> IpuPlan:
    """The plan for this process, or a one-line UserError naming the fix."""
    hp = context.hyperparameters
    precision = implemented_precision(hp, "adamw", "AdamW", PRECISIONS)
    plan = IpuPlan(
        micro_batch=settings.micro_batch,
        gradient_accumulation=gradient_accumulation(int(hp["batch_size"]), settings.micro_batch),
        device_iterations=settings.device_iterations,
        seed=context.seed + context.world.rank,
        executable_cache_dir=executable_cache_dir(environ),
        fp16=precision == "fp16",
    )
    rows = len(context.train_inputs)
    if plan.calls_per_epoch(rows) == 0:
        raise UserError(
            f"the training shard of {rows} samples is smaller than one IPU host call of "
            f"{plan.combined_batch} (batch_size x device_iterations {plan.device_iterations}): "
            "use a larger scale, a smaller batch_size or fewer device_iterations in "
            f"{SETTINGS_FILE}"
        )
    return plan
