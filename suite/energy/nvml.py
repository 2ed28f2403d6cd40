"""NVIDIA GPU energy through NVML (the nvidia-ml-py package, imported as `pynvml`).

The GPU's total-energy counter (millijoules since the driver loaded; Volta and newer) gives the
energy exactly; where NVML answers NotSupported the energy is integrated from power samples,
and the method says so. Power samples are read either way, for the trace.

Each process measures the GPU it computes on. That GPU is matched by UUID rather than by index,
because NVML numbers every GPU of the node while CUDA numbers only the visible ones, and not
necessarily in the same order (CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import torch

from accelbench.energy.meter import DeviceReading, Unavailable

MILLI = 1e-3
NOT_INSTALLED = "pynvml (nvidia-ml-py) is not installed: pip install 'accelbench[gpu]'"


class NvmlMeter:
    """Reads the energy counter (where the GPU has one) and the power of each of its GPUs."""

    name = "nvml"

    def __init__(self, nvml: ModuleType, handles: dict[str, Any], counters: frozenset[str]) -> None:
        self._nvml = nvml
        self._handles = handles
        self._counters = counters
        self.devices = tuple(handles)
        self.description = "NVML " + ", ".join(
            f"{device} ({'energy counter' if device in counters else 'power samples, integrated'})"
            for device in handles
        )

    def read(self) -> dict[str, DeviceReading]:
        return {device: self._read(device, handle) for device, handle in self._handles.items()}

    def _read(self, device: str, handle: Any) -> DeviceReading:
        power_w = self._nvml.nvmlDeviceGetPowerUsage(handle) * MILLI
        if device not in self._counters:
            return DeviceReading(power_w=power_w)
        return DeviceReading(power_w, self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle) * MILLI)

    def close(self) -> None:
        self._nvml.nvmlShutdown()


def nvml_meter_for_rank(local_rank: int, nvml: ModuleType | None = None,
                        cuda_uuids: Sequence[str] | None = None) -> NvmlMeter | Unavailable:
    """A meter over the GPU this process computes on: CUDA device `local_rank` modulo the number
    of visible devices, as the runner assigns it (so one visible GPU serves whatever the rank).

    `nvml` and `cuda_uuids` default to pynvml and torch's view; tests pass recorded ones.
    """
    if cuda_uuids is None:
        if not torch.cuda.is_available():
            return Unavailable("torch sees no CUDA device, so this process has no GPU to measure")
        cuda_uuids = [str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]
    if not cuda_uuids:
        return Unavailable("no CUDA device is visible to this process")
    return nvml_meter([cuda_uuids[local_rank % len(cuda_uuids)]], nvml)


def nvml_meter(uuids: Sequence[str], nvml: ModuleType | None = None) -> NvmlMeter | Unavailable:
    """A meter over the GPUs with these UUIDs (with or without the "GPU-" prefix), probed once."""
    if nvml is None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            return Unavailable(NOT_INSTALLED)
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as error:
        return Unavailable(f"NVML could not start ({error}): is the NVIDIA driver visible in this container?")
    try:
        return _probed_meter(nvml, uuids)
    except nvml.NVMLError as error:
        nvml.nvmlShutdown()
        return Unavailable(f"NVML failed while finding this process's GPU: {error}")


def _probed_meter(nvml: ModuleType, uuids: Sequence[str]) -> NvmlMeter | Unavailable:
    by_uuid = {}
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        by_uuid[_bare(_text(nvml.nvmlDeviceGetUUID(handle)))] = handle
    handles, counters = {}, set()
    for uuid in uuids:
        handle = by_uuid.get(_bare(uuid))
        if handle is None:
            nvml.nvmlShutdown()
            return Unavailable(f"NVML sees no GPU with this process's UUID {uuid} (a MIG instance, "
                               "or a GPU hidden from NVML), so its energy cannot be told apart")
        device = f"nvml:GPU-{_bare(uuid)}"
        handles[device] = handle
        nvml.nvmlDeviceGetPowerUsage(handle)
        try:
            nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            counters.add(device)
        except nvml.NVMLError_NotSupported:
            pass  # pre-Volta: integrate the power samples instead
    return NvmlMeter(nvml, handles, frozenset(counters))


def _bare(uuid: str) -> str:
    """NVML writes "GPU-5f3c…", torch writes "5f3c…": compare without the prefix, in lower case."""
    uuid = uuid.strip().lower()
    return uuid[len("gpu-"):] if uuid.startswith("gpu-") else uuid


def _text(value: str | bytes) -> str:
    """nvidia-ml-py returns str; releases before 11.5 returned bytes."""
    return value.decode() if isinstance(value, bytes) else value
