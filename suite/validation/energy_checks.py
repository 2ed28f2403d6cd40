"""A run's energy record held against itself: MLPerf Power's rules (at least one reading per
second over the timed region) and the arithmetic that ties the total to the trace it came from.

The trace holds mean watts per stretch of time, so its integral is the energy the samples give;
a counter-based total may differ from it by what the counter saw between samples, which is
small at the rates allowed but not nothing — hence the tolerance.
"""

from __future__ import annotations

from accelbench.energy.trace import trace_energy_j
from accelbench.results.models import Energy
from accelbench.validation.findings import Findings

MIN_HZ = 1.0
TRACE_TOLERANCE = 0.05  # counter vs integrated power samples at >= 1 Hz
ARITHMETIC_TOLERANCE = 1e-6


def check_energy(energy: Energy, relative: str, findings: Findings) -> None:
    def error(message: str) -> None:
        findings.error("run.energy", relative, message)

    if not energy.available:
        if energy.joules is not None:
            error("energy.joules is set but energy.available is false: unavailable energy is null")
        if not energy.reason:
            error("energy is unavailable without a reason: the result must say why")
        return
    if energy.joules is None or energy.joules < 0:
        error("energy.available is true but energy.joules is missing or negative")
        return
    if energy.sampling_hz is None or energy.sampling_hz < MIN_HZ:
        error(f"energy.sampling_hz is {energy.sampling_hz}: MLPerf Power needs at least {MIN_HZ:g} Hz "
              "over the timed region")
    if energy.samples is None or energy.samples < 2:
        error(f"energy.samples is {energy.samples}: at least the readings at start and stop are needed")
    if energy.per_device_j and abs(sum(energy.per_device_j.values()) - energy.joules) > (
            ARITHMETIC_TOLERANCE * max(1.0, energy.joules)):
        error(f"energy.joules {energy.joules:.6g} is not the sum of energy.per_device_j "
              f"({sum(energy.per_device_j.values()):.6g})")
    if energy.duration_s and energy.average_w is not None and abs(
            energy.average_w * energy.duration_s - energy.joules) > ARITHMETIC_TOLERANCE * max(1.0, energy.joules):
        error(f"energy.average_w {energy.average_w:.6g} x duration_s {energy.duration_s:.6g} is not "
              f"energy.joules {energy.joules:.6g}")
    if energy.trace:
        from_trace = trace_energy_j(energy.trace)
        if abs(from_trace - energy.joules) > TRACE_TOLERANCE * max(energy.joules, 1.0):
            error(f"the power trace integrates to {from_trace:.6g} J but energy.joules is "
                  f"{energy.joules:.6g} J (more than {TRACE_TOLERANCE:.0%} apart)")
