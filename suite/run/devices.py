"""The devices a suite run can target, and the checks that fail fast when one is missing."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch

from accelbench.errors import UserError


@dataclass(frozen=True)
class Device:
    name: str
    torch_device: str
    description: str


DEVICES = ("cpu", "a100", "ipu")


def resolve_device(name: str) -> Device:
    """The device for `--device=name`, after checking that this machine can drive it."""
    if name == "cpu":
        return Device("cpu", "cpu", "host CPU (reference)")
    if name == "a100":
        if not torch.cuda.is_available():
            raise UserError(
                f"--device=a100 needs an NVIDIA GPU with CUDA, but torch {torch.__version__} sees "
                "none: run on a GPU node (inside the Dockerfile.gpu image) or use --device=cpu"
            )
        return Device("a100", "cuda", torch.cuda.get_device_name(0))
    if name == "ipu":
        if importlib.util.find_spec("poptorch") is None:
            raise UserError(
                "--device=ipu needs poptorch from the Graphcore Poplar SDK 3.4, which is not "
                "installed: run inside the Dockerfile.ipu image or use --device=cpu"
            )
        return Device("ipu", "ipu", "Graphcore IPU (PopTorch)")
    raise UserError(f"unknown device '{name}': use one of {', '.join(DEVICES)}")
