"""The numeric formats the closed division allows (rules: precision = fp32, tf32, bf16, fp16).

A `Precision` is plain data, so the table can be checked on any machine; only
`configure_cuda_backends` touches torch's process-global flags, and only CUDA runs call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Precision:
    """How one setting computes: the autocast dtype (float32 = no autocast), whether fp32
    matmuls and convolutions may use TF32 tensor cores, and whether the loss needs scaling."""

    name: str
    dtype: torch.dtype
    autocast: bool
    scaler: bool
    tf32: bool

    def autocast_on(self, device_type: str) -> torch.autocast:
        return torch.autocast(device_type, dtype=self.dtype, enabled=self.autocast)

    def storage_dtype(self, device: torch.device) -> torch.dtype:
        """The dtype a GPU-held input shard is kept in: the autocast dtype when autocast is on
        (autocast casts the conv input to it anyway, so the numbers are the same and the
        shard takes half the memory); host shards of CPU runs stay float32, where they are."""
        return self.dtype if device.type == "cuda" else torch.float32


PRECISIONS = {
    "fp32": Precision("fp32", torch.float32, autocast=False, scaler=False, tf32=False),
    "tf32": Precision("tf32", torch.float32, autocast=False, scaler=False, tf32=True),
    # What autocast leaves in fp32 (the optimizer's maths aside, e.g. BatchNorm) may use TF32.
    "bf16": Precision("bf16", torch.bfloat16, autocast=True, scaler=False, tf32=True),
    # fp16 has 5 exponent bits: small gradients underflow unless the loss is scaled.
    "fp16": Precision("fp16", torch.float16, autocast=True, scaler=True, tf32=True),
}


def precision_for(name: str) -> Precision:
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ValueError(
            f"precision '{name}' is not one of {', '.join(PRECISIONS)} (the rules' precision hyperparameter)"
        ) from None


def configure_cuda_backends(precision: Precision) -> None:
    """Set cuBLAS/cuDNN for `precision` — process-global, so only a CUDA session's constructor
    (and the GPU scripts) call it.

    cuDNN's TF32 is on by default in PyTorch, so fp32 must switch it off explicitly. The legacy
    `allow_tf32` flags exist in every torch a GPU image may ship; the newer `fp32_precision`
    API raises errors when mixed with them. cuDNN autotuning suits the constant batch shape,
    and the seed's GPU trainer used it too."""
    torch.backends.cuda.matmul.allow_tf32 = precision.tf32
    torch.backends.cudnn.allow_tf32 = precision.tf32
    torch.backends.cudnn.benchmark = True


def claim_device(device: str, precision: Precision) -> torch.device:
    """This process's torch device with its index ('cuda' means the current GPU; DDP and the
    memory queries need the index); a GPU becomes the current device, with its backends set
    for `precision` (process-global: every CUDA model of the process)."""
    claimed = torch.device(device)
    if claimed.type != "cuda":
        return claimed
    if claimed.index is None:
        claimed = torch.device("cuda", torch.cuda.current_device())
    torch.cuda.set_device(claimed)
    configure_cuda_backends(precision)
    return claimed
