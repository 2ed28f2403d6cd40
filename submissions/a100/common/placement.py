"""Where a data shard lives on a GPU run: in device memory when it fits, else in pinned host
memory from which batches are copied asynchronously.

At full scale the training split is 7.5M x 1600 x 4 float32 = 192 GB (96 GB in 16 bits): one
80 GB A100 cannot hold it, while each rank's shard fits from 2 GPUs up (16-bit) or 4 (fp32).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

Placement = Literal["device", "pinned_host"]

HEADROOM_BYTES = 8 * 2**30
"""Device memory left free after the shard: the working set of one step at the largest closed
batch (4096: conv1's output alone is 4096 x 30 x 1597 x 4 B = 785 MB; with the other layers'
activations, their gradients and the max-pool indices, a few GB), the eval chunk, weights with
their gradients and AdamW moments (48 MB), cuBLAS/cuDNN workspaces, NCCL buffers and the
caching allocator's fragmentation."""

UPLOAD_ROWS = 65536
"""Rows copied at a time (420 MB of fp32 frames), so casting never holds a second full copy."""


def placement(needed_bytes: int, free_bytes: int, headroom_bytes: int = HEADROOM_BYTES) -> Placement:
    """'device' when the shard plus the headroom fits in the free device memory."""
    return "device" if needed_bytes + headroom_bytes <= free_bytes else "pinned_host"


def stored_bytes(tensor: torch.Tensor, dtype: torch.dtype) -> int:
    return tensor.numel() * torch.empty((), dtype=dtype).element_size()


def keep(tensors: Sequence[tuple[torch.Tensor, torch.dtype]], device: torch.device
         ) -> tuple[Placement, list[torch.Tensor]]:
    """Place tensors that are read together (e.g. frames and targets) in one place, each
    converted to its dtype. CPU runs keep them where they are, unconverted."""
    if device.type != "cuda":
        return "device", [tensor for tensor, _ in tensors]
    needed = sum(stored_bytes(tensor, dtype) for tensor, dtype in tensors)
    where = placement(needed, torch.cuda.mem_get_info(device)[0])
    target = device if where == "device" else torch.device("cpu")
    return where, [copy_in_rows(tensor, target, dtype) for tensor, dtype in tensors]


def copy_in_rows(tensor: torch.Tensor, target: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`tensor` as `dtype` on `target` (pinned when that is the host), copied a slice at a time."""
    kept = torch.empty(tensor.shape, dtype=dtype, device=target, pin_memory=target.type == "cpu")
    for start in range(0, tensor.shape[0], UPLOAD_ROWS):
        kept[start : start + UPLOAD_ROWS].copy_(tensor[start : start + UPLOAD_ROWS])
    return kept
