"""How the rules' batch maps onto one IPU replica, and the plan the PopTorch options follow.

The plan is the IPU submissions' shared `IpuPlan` (micro-batch x gradient accumulation x replicas per
process = the local batch; x device iterations = one host call) and its options are built by
the same code; only the choices differ:

- One forward/backward pass takes the whole local batch (gradient accumulation 1 by default).
  The firing-rate regularizer squares the batch's mean rate, so accumulating micro-batches would
  average squares of micro-batch means instead: a different regularizer, which the closed
  division forbids. Accumulation is refused there, and allowed in the open division.
- Device iterations: the largest count up to `max_device_iterations` that divides the epoch's
  optimizer steps, so a host call never drops a batch the reference would have trained on
  (every rank holds the same whole number of local batches: `distributed.training_shard`).

Plain Python: tested on CPU. `poplar.py` applies the plan to poptorch.Options.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from accelbench.contracts.training import TrainingContext
from accelbench.errors import UserError
from accelbench.submissions.ipu.common.plan import (
    IpuPlan,
    device_iterations,
    executable_cache_dir,
    implemented_precision,
)
from accelbench.submissions.ipu.snn_bptt.precision import PRECISIONS

SETTINGS_FILE = "accelbench/submissions/ipu/snn_bptt/config.py"


@dataclass(frozen=True)
class SubmissionSettings:
    """The choices the rules leave to this submission, in code so the source hash records them."""

    micro_batch: int | None = None
    """Samples per forward/backward pass of one replica; None: the whole local batch."""
    max_device_iterations: int = 8
    """At most this many optimizer steps run on the device per host call."""
    half_partials: bool = False
    """With precision fp16, also keep the matrix products' partial sums in fp16
    (Precision.setPartialsType(torch.half)); off: the spike threshold is a hard cut, so the
    currents are only rounded once, at the end of each product."""
    asynchronous_loading: bool = False
    """poptorch.DataLoaderMode.Async instead of Sync (fewer moving parts while unproven)."""


SETTINGS = SubmissionSettings()


def plan_for(
    context: TrainingContext,
    settings: SubmissionSettings = SETTINGS,
    environ: Mapping[str, str] = os.environ,
) -> IpuPlan:
    """The plan for this process, or a one-line UserError naming the fix."""
    hp = context.hyperparameters
    precision = implemented_precision(hp, "adam", "Adam", PRECISIONS)
    batch = int(hp["batch_size"])
    micro = settings.micro_batch or batch
    if micro > batch or batch % micro:
        raise UserError(
            f"batch_size {batch} is not a multiple of the IPU micro-batch {micro}: change "
            f"micro_batch in {SETTINGS_FILE}"
        )
    accumulation = batch // micro
    if accumulation > 1 and context.division == "closed":
        raise UserError(
            f"micro-batch {micro} would accumulate {accumulation} passes per batch of {batch}, "
            "which changes the firing-rate regularizer (the square of the batch's mean rate): "
            f"not allowed in the closed division; set micro_batch=None in {SETTINGS_FILE}"
        )
    rows = len(context.train_inputs)
    steps = rows // batch
    if steps == 0:
        raise UserError(
            f"the training shard of {rows} samples is smaller than one batch of {batch}: use a "
            "smaller batch_size or a larger scale"
        )
    return IpuPlan(
        micro_batch=micro,
        gradient_accumulation=accumulation,
        device_iterations=device_iterations(steps, settings.max_device_iterations),
        seed=context.seed + context.world.rank,
        executable_cache_dir=executable_cache_dir(environ),
        fp16=settings.half_partials and precision == "fp16",
    )
