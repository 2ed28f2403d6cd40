"""The energy of a run of several processes: their measurements summed once per device.

Device ids name one device worldwide (a GPU's UUID, an IPU board's serial) except RAPL's, which
name a socket of one host and so are keyed with the host. A device that two processes measured
(a board shared by two replicas, say) is counted once, from the first process given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from accelbench.energy.measurement import EnergyMeasurement

HOST_SCOPED = ("rapl:",)


@dataclass(frozen=True)
class CombinedEnergy:
    joules: float | None  # None when no process measured anything
    per_device_j: dict[str, float]  # keyed by device_key
    failures: tuple[str, ...]  # "host: why"; when any, joules covers only what was measured
    counted_once: tuple[str, ...]  # devices that more than one process measured

    @property
    def complete(self) -> bool:
        return not self.failures


def device_key(host: str, device_id: str) -> str:
    """The id of a device among all hosts of a run."""
    return f"{host}/{device_id}" if device_id.startswith(HOST_SCOPED) else device_id


def sum_once_per_device(measurements: Iterable[tuple[str, EnergyMeasurement]]) -> CombinedEnergy:
    """Sum (host, measurement) pairs, in rank order, counting each device once."""
    per_device: dict[str, float] = {}
    failures, repeated = [], []
    for host, measurement in measurements:
        if measurement.failure:
            failures.append(f"{host}: {measurement.failure}")
        for device, joules in measurement.per_device_j.items():
            key = device_key(host, device)
            if key in per_device:
                repeated.append(key)
            else:
                per_device[key] = joules
    return CombinedEnergy(sum(per_device.values()) if per_device else None, per_device, tuple(failures),
                          tuple(dict.fromkeys(repeated)))
