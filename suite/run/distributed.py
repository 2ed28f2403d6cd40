"""Several processes, one run: joining the process group, the data shards, and the few
collectives the harness needs (who is who: `accelbench.run.world`).

Each process holds a contiguous shard of the training data in memory, as the seed benchmark
did, and the local batch stays constant, so the global batch is the local batch times the
world size: weak scaling.
"""

from __future__ import annotations

import atexit
import datetime
import os
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist

from accelbench.errors import UserError
from accelbench.run.world import World

T = TypeVar("T")


def backend_for(torch_device: str) -> str:
    """NCCL between GPUs, gloo on the host (CPU runs, and the IPU host processes)."""
    return "nccl" if torch_device.startswith("cuda") else "gloo"


def join(world: World, backend: str, timeout_s: float = 1800.0) -> None:
    """Join the process group of a multi-process run (once per process)."""
    if world.size == 1 or dist.is_initialized():
        return
    require_rendezvous(world)
    dist.init_process_group(
        backend, rank=world.rank, world_size=world.size,
        timeout=datetime.timedelta(seconds=timeout_s),
    )
    atexit.register(_leave)


def require_rendezvous(world: World) -> None:
    """Several processes need the address where they meet; checked before any work starts."""
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if world.size > 1 and missing:
        raise UserError(
            f"{world.launcher} started {world.size} processes but {' and '.join(missing)} "
            "is not set: export MASTER_ADDR (the first node) and MASTER_PORT (a free port)"
        )


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def training_shard(total: int, world: World, local_batch: int) -> slice:
    """This rank's contiguous block of the training split, whole local batches only.

    As in the seed: every rank gets floor(total / size / local_batch) * local_batch samples.
    """
    per_rank = total // world.size // local_batch * local_batch
    if per_rank == 0:
        raise UserError(
            f"{total} training samples cannot give each of {world.size} processes one local "
            f"batch of {local_batch}: use fewer processes, a smaller batch_size or a larger scale"
        )
    return slice(world.rank * per_rank, (world.rank + 1) * per_rank)


def eval_shard(total: int, world: World) -> slice:
    """This rank's contiguous block of the evaluation split; together the blocks cover it all."""
    per_rank = -(-total // world.size)
    start = min(world.rank * per_rank, total)
    return slice(start, min(start + per_rank, total))


def gather_rows(local: torch.Tensor, world: World, total: int) -> torch.Tensor:
    """Concatenate every rank's rows in rank order (CPU tensors in, CPU tensor out)."""
    if world.size == 1:
        return local
    per_rank = -(-total // world.size)
    padded = torch.zeros((per_rank, *local.shape[1:]), dtype=local.dtype, device=_backend_device())
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(parts, padded)
    return torch.cat([p.cpu() for p in parts])[:total]


def mean_across(value: float, world: World) -> float:
    return sum_across(value, world) / world.size


def sum_across(value: float, world: World) -> float:
    if world.size == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=_backend_device())
    dist.all_reduce(tensor)
    return float(tensor.item())


def share(value: T, world: World) -> T:
    """Rank 0's `value`, on every rank (picklable values only)."""
    if world.size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value: T, world: World) -> list[T]:
    """Every rank's `value`, in rank order, on every rank (picklable values only)."""
    if world.size == 1:
        return [value]
    values: list = [None] * world.size
    dist.all_gather_object(values, value)
    return values


def on_primary(world: World, work: Callable[[], T]) -> T:
    """Run `work` on rank 0 and hand its result to every rank; its UserError fails every rank."""
    if world.size == 1:
        return work()
    outcome: tuple[bool, object] = (True, None)
    if world.primary:
        try:
            outcome = (True, work())
        except UserError as err:
            outcome = (False, str(err))
    ok, payload = share(outcome, world)
    if not ok:
        raise UserError(str(payload))
    return payload  # type: ignore[return-value]


def _backend_device() -> torch.device:
    """NCCL only moves CUDA tensors; gloo takes them on the host."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
