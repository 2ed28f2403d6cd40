"""The one interface every power meter offers, and the answer when there is none.

A meter reads all the devices it covers in one call, so that their readings share a timestamp
and a trace can add them up. Device ids are stable across runs: "rapl:package-0" names a socket
of one host, while "nvml:GPU-<uuid>" and "ipu:board-<serial>" are unique worldwide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DeviceReading:
    """One device at one instant: the power now and/or its energy counter (either may be None).

    `energy_j` is cumulative and monotone (wrap-arounds already undone), so only differences
    between two readings mean anything.
    """

    power_w: float | None = None
    energy_j: float | None = None


class PowerMeter(Protocol):
    name: str  # "rapl", "nvml", "gcipuinfo", "gc-monitor": the source named in the result
    devices: tuple[str, ...]
    description: str  # what this process measures, in words, for the result and the log

    def read(self) -> Mapping[str, DeviceReading]:
        """Every device in `devices`, read now; raises when the source fails."""
        ...

    def close(self) -> None:
        """Release the source (NVML keeps a reference count); reading afterwards is an error."""
        ...


@dataclass(frozen=True)
class Unavailable:
    """No energy from this process, and precisely why: a result says this, never 0 J."""

    reason: str
