"""From timestamped readings to joules: counter differences where a device has a counter, the
trapezoid rule over its power samples where it has not (MLPerf Power's sum of P * dt, with the
mean of both ends of each interval instead of one end).

A reading missing in the middle of a run ("N/A" from a sensor) is filled by linear interpolation
between its neighbours, at the ends by the nearest reading, and a note says how many were filled.
A device with no usable reading at all fails the measurement: it is never counted as 0 J.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from accelbench.energy.measurement import EnergyMeasurement, Method
from accelbench.energy.meter import DeviceReading
from accelbench.energy.trace import MAX_TRACE_POINTS, Stretch, compact

MLPERF_MAX_GAP_S = 1.0  # MLPerf Power: at least one reading per second
_NOTHING = DeviceReading()


@dataclass(frozen=True)
class Sample:
    t: float  # seconds on the sampler's clock
    readings: Mapping[str, DeviceReading]


@dataclass(frozen=True)
class _DeviceSeries:
    energy_per_interval: list[float]
    mean_w_per_interval: list[float]
    filled: int


def integrate(meter: str, samples: Sequence[Sample], *, sampling_s: float = 0.0, failure: str | None = None,
              max_trace_points: int = MAX_TRACE_POINTS) -> EnergyMeasurement:
    """The measurement over `samples` (in time order; the first one's devices are the devices)."""
    devices = list(samples[0].readings) if samples else []
    counters = [d for d in devices if samples[0].readings[d].energy_j is not None]
    method = _method(len(counters), len(devices))
    if len(samples) < 2:
        return EnergyMeasurement(meter, method, None, {}, None, None, 0.0, len(samples), None, [], sampling_s,
                                 failure or "fewer than two readings: no interval to measure")
    times = [s.t - samples[0].t for s in samples]
    widths = [b - a for a, b in zip(times, times[1:])]
    failures = [failure] if failure else []
    notes, measured = [], {}
    for device in devices:
        series = _device_series(device, device in counters, samples, times, widths)
        if isinstance(series, str):
            failures.append(series)
            continue
        measured[device] = series
        if series.filled:
            notes.append(f"{device}: {series.filled} of {len(samples)} readings missing, filled from "
                         "their neighbours (estimated)")
    stretches = [
        Stretch(times[i + 1], width, sum(s.mean_w_per_interval[i] for s in measured.values()))
        for i, width in enumerate(widths) if width > 0
    ]
    per_device_j = {d: sum(s.energy_per_interval) for d, s in measured.items()}
    joules = sum(per_device_j.values()) if measured else None
    duration = times[-1]
    largest_gap = max(widths)
    if largest_gap > MLPERF_MAX_GAP_S:
        notes.append(f"largest gap between readings is {largest_gap:.2f} s: MLPerf Power asks for at "
                     "least one reading per second")
    return EnergyMeasurement(
        meter=meter,
        method=method,
        joules=joules,
        per_device_j=per_device_j,
        average_w=joules / duration if joules is not None and duration > 0 else None,
        peak_w=max((s.mean_w for s in stretches), default=None) if measured else None,
        duration_s=duration,
        samples=len(samples),
        achieved_hz=(len(samples) - 1) / duration if duration > 0 else None,
        trace=compact(stretches, max_trace_points) if measured else [],
        sampling_s=sampling_s,
        failure="; ".join(failures) or None,
        notes=tuple(notes),
    )


def _method(counters: int, devices: int) -> Method:
    if counters == 0:
        return "integrated"
    return "counter" if counters == devices else "mixed"


def _device_series(device: str, has_counter: bool, samples: Sequence[Sample], times: list[float],
                   widths: list[float]) -> _DeviceSeries | str:
    """Per-interval energy and mean power of one device, or why it has none."""
    readings = [s.readings.get(device, _NOTHING) for s in samples]
    power, power_filled = _filled(times, [r.power_w for r in readings])
    if has_counter:
        energy, filled = _filled(times, [r.energy_j for r in readings])
        assert energy is not None  # the first reading has it: that is what makes it a counter
        per_interval = [b - a for a, b in zip(energy, energy[1:])]
        if any(e < 0 for e in per_interval):
            return f"{device}: its energy counter went backwards (driver reloaded or counter reset)"
    elif power is None:
        return f"{device} gave no power reading during the run"
    else:
        filled = power_filled
        per_interval = [(a + b) / 2 * w for a, b, w in zip(power, power[1:], widths)]
    if power is None:  # a counter without power samples: its trace is the counter's slope
        mean_w = [e / w if w > 0 else 0.0 for e, w in zip(per_interval, widths)]
    else:
        mean_w = [(a + b) / 2 for a, b in zip(power, power[1:])]
    return _DeviceSeries(per_interval, mean_w, filled)


def _filled(times: list[float], values: list[float | None]) -> tuple[list[float] | None, int]:
    """`values` with gaps filled (linear inside, nearest at the ends) and how many were, or None
    when there is no value at all."""
    known = [i for i, v in enumerate(values) if v is not None]
    if not known:
        return None, 0
    out: list[float] = []
    after = 0  # index into `known` of the first known reading at or after i
    for i, value in enumerate(values):
        if value is not None:
            out.append(value)
            after += 1
            continue
        left = known[after - 1] if after > 0 else None
        right = known[after] if after < len(known) else None
        if left is None or right is None or times[right] == times[left]:
            out.append(values[right if left is None else left])
        else:
            share = (times[i] - times[left]) / (times[right] - times[left])
            out.append(values[left] + share * (values[right] - values[left]))
    return out, len(values) - len(known)
