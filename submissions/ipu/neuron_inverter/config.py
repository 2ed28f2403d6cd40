"""How the rules' batch maps onto one IPU replica, and the plan the PopTorch options follow.

The rules' `batch_size` is the samples per optimizer step of one replica (the local batch). An
IPU runs it as `micro_batch` samples per forward/backward pass, accumulated
`gradient_accumulation` times; `device_iterations` optimizer steps run on the device per host
call. The seed's port ran micro-batch 128, gradientAccumulation 15, deviceIterations 2.

With poprun the suite starts one process per instance and one replica per instance
(`poprun --num-instances N --num-replicas N`, as the seed did), so a process drives exactly one
replica and PopTorch all-reduces the gradients across instances.

Plain Python: tested on CPU. `poplar.py` applies the plan to poptorch.Options.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from accelbench.run.distributed import World
from accelbench.errors import UserError
from accelbench.contracts.training import EvalKind, RunContext

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


@dataclass(frozen=True)
class IpuPlan:
    """What the PopTorch options of this process say, computed from the run's context."""

    micro_batch: int
    gradient_accumulation: int
    device_iterations: int
    seed: int
    """poptorch randomSeed: the run's seed plus the rank, so dropout differs per replica."""
    executable_cache_dir: str
    fp16: bool
    replicas_per_process: int = 1

    @property
    def local_batch(self) -> int:
        """Samples per optimizer step of this process: the rules' batch_size."""
        return self.micro_batch * self.gradient_accumulation * self.replicas_per_process

    @property
    def combined_batch(self) -> int:
        """Samples per host call of the training executor (what poptorch.DataLoader yields)."""
        return self.local_batch * self.device_iterations

    @property
    def inference_batch(self) -> int:
        """Samples per host call of an inference executor, which has no gradient accumulation."""
        return self.micro_batch * self.device_iterations * self.replicas_per_process

    def calls_per_epoch(self, shard_rows: int) -> int:
        """Host calls over a training shard; the remainder is dropped, as drop_last=True does."""
        return shard_rows // self.combined_batch


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


def require_poprun(world: World, popdist: object | None) -> None:
    """Several processes must come from poprun (PopDist), which places one replica on each IPU."""
    if world.size > 1 and popdist is None:
        raise UserError(
            f"{world.launcher} started {world.size} processes, but not through poprun: "
            f"launch with poprun --num-instances {world.size} --num-replicas {world.size}"
        )


def executable_cache_dir(environ: Mapping[str, str]) -> str:
    """$POPTORCH_CACHE_DIR (PopTorch's own variable) when set, else under the user cache dir."""
    return environ.get("POPTORCH_CACHE_DIR") or str(
        Path(platformdirs.user_cache_dir("accelbench")) / "poptorch"
    )


def plan_for(
    context: RunContext,
    settings: SubmissionSettings = SETTINGS,
    environ: Mapping[str, str] = os.environ,
) -> IpuPlan:
    """The plan for this process, or a one-line UserError naming the fix."""
    hp = context.hyperparameters
    if hp["optimizer"] != "adamw":
        raise UserError(
            f"optimizer '{hp['optimizer']}': the IPU submission implements AdamW only "
            "(--hparam optimizer=adamw)"
        )
    precision = str(hp["precision"])
    if precision not in PRECISIONS:
        raise UserError(
            f"precision '{precision}' is not available on the IPU: use --hparam precision=fp16 "
            "or --hparam precision=fp32"
        )
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
