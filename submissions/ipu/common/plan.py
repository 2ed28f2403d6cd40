"""The plan a process's PopTorch options follow, whatever the workload.

The rules' `batch_size` is the samples per optimizer step of one replica (the local batch). An
IPU runs it as `micro_batch` samples per forward/backward pass, accumulated
`gradient_accumulation` times; `device_iterations` optimizer steps run on the device per host
call. With poprun the suite starts one process per instance and one replica per instance
(`poprun --num-instances N --num-replicas N`, as the seed did), so a process drives exactly one
replica and PopTorch all-reduces the gradients across instances. Each workload's `config.py`
computes its plan from the run; `poplar.py` applies it to poptorch.Options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from accelbench.errors import UserError
from accelbench.run.world import World


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


def implemented_precision(hyperparameters: Mapping[str, object], optimizer: str, optimizer_label: str,
                          precisions: tuple[str, ...]) -> str:
    """The run's precision, after refusing in one line an optimizer or a precision that this IPU
    submission does not implement."""
    if hyperparameters["optimizer"] != optimizer:
        raise UserError(
            f"optimizer '{hyperparameters['optimizer']}': the IPU submission implements {optimizer_label} "
            f"only (--hparam optimizer={optimizer})"
        )
    return available_precision(hyperparameters, precisions)


def available_precision(hyperparameters: Mapping[str, object], precisions: tuple[str, ...]) -> str:
    """The run's precision, after refusing in one line one not in `precisions`."""
    precision = str(hyperparameters["precision"])
    if precision not in precisions:
        raise UserError(
            f"precision '{precision}' is not available on the IPU: use "
            + " or ".join(f"--hparam precision={name}" for name in precisions)
        )
    return precision


def device_iterations(steps: int, most: int) -> int:
    """Optimizer steps per host call: the largest count in 1..most that divides an epoch's `steps`
    evenly (1 when `steps` or `most` is below 1)."""
    return max(count for count in range(1, max(1, min(steps, most)) + 1) if steps % count == 0)
