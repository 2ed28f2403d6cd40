"""What one process measured over the timed region: the record the result is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Method = Literal["counter", "integrated", "mixed"]  # energy counters, power samples, or both kinds


@dataclass(frozen=True)
class EnergyMeasurement:
    """Energy of the devices one meter covers, from the reading at start to the one at stop.

    When `failure` is set the meter broke or a device gave no usable readings: `joules`,
    `per_device_j` and `trace` then hold only what was measured (over `duration_s`, for the
    devices listed), never a stand-in for the rest. `joules` is None only when fewer than two
    readings exist. `notes` say where values were estimated (gaps filled) or rules were missed.
    """

    meter: str
    method: Method
    joules: float | None
    per_device_j: dict[str, float]
    average_w: float | None
    peak_w: float | None  # the highest mean power over one sampling interval
    duration_s: float  # from the first to the last reading
    samples: int  # readings taken, the ones at start and stop included
    achieved_hz: float | None
    trace: list[tuple[float, float]]  # (s since start at the end of a stretch, mean W over it)
    sampling_s: float  # time spent reading the meter: what sampling cost the run
    failure: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        return self.failure is None
