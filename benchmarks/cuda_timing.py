"""Timing torch work on its device: a GPU runs asynchronously, so a timing is bracketed by synchronisations, and
the implicit host waits a GPU step makes are counted (each stalls the CPU that feeds the GPU)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import torch

CUDA_ONLY = "needs a CUDA GPU: run with --bench-device cuda on an A100-class machine"


def synchronized_seconds(work: Callable[[], object], device: torch.device) -> float:
    """Seconds of `work` with the device's queue drained before and after (on a CPU, plain wall time)."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    work()
    if cuda:
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def plain_fp32_backends() -> None:
    """True fp32 on CUDA: cuDNN's TF32 is on by default in PyTorch, so switch it off too, and autotuning."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False


def host_synchronisations(work: Callable[[], object]) -> int:
    """How many times `work` made the host wait for the GPU implicitly (.item(), a copy to
    the host, ...), as torch's CUDA sync debug mode reports them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            work()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(warning.message) for warning in caught)
