"""Who this process is among the processes of one run, as the launcher said.

Launchers say who is who through the environment: torchrun (RANK, WORLD_SIZE, LOCAL_RANK),
Slurm's srun (SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID) and Open MPI's mpirun, which
Graphcore's poprun drives (OMPI_COMM_WORLD_*). One process per accelerator. Plain Python, so
every kind's contract can name the world without importing a framework; the collectives over
it are in `accelbench.run.distributed`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from accelbench.errors import UserError


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launcher: str = "single process"

    @property
    def primary(self) -> bool:
        """Rank 0 writes the event log and the result files; the others only compute."""
        return self.rank == 0


SINGLE = World()

_LAUNCHERS = (
    ("torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"),
    ("srun", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID"),
    ("mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
)


def world_from_environment(env: Mapping[str, str] = os.environ) -> World:
    """The world the launcher set up; a single process when no launcher variables are set."""
    for launcher, rank_var, size_var, local_var in _LAUNCHERS:
        if size_var not in env:
            continue
        try:
            rank, size = int(env[rank_var]), int(env[size_var])
            local_rank = int(env.get(local_var, "0"))
        except (KeyError, ValueError):
            raise UserError(
                f"{launcher} environment is incomplete: {rank_var}, {size_var} and {local_var} "
                "must be integers; launch with torchrun, srun or mpirun as the README shows"
            ) from None
        if size < 1 or not 0 <= rank < size:
            raise UserError(f"{launcher} environment: {rank_var}={rank} is outside {size_var}={size}")
        if size == 1:
            return SINGLE
        return World(rank=rank, size=size, local_rank=local_rank, launcher=launcher)
    return SINGLE
