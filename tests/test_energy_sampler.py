"""The sampler against meters whose power follows a known curve, on a simulated clock, and once
in real time."""

import math
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelbench.energy import sampler as sampler_module
from accelbench.energy.integration import Sample, integrate
from accelbench.energy.meter import DeviceReading
from accelbench.energy.sampler import EnergySampler
from accelbench.energy.trace import Stretch, compact, trace_energy_j


class SimulatedClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class SimulatedWait:
    """Advances the clock instead of sleeping; ends the sampling at `end_s` and sets `finished`."""

    def __init__(self, clock, end_s, finished):
        self.clock, self.end_s, self.finished = clock, end_s, finished

    def __call__(self, timeout):
        if self.clock.now + timeout >= self.end_s:
            self.clock.now = self.end_s
            self.finished.set()
            return True
        self.clock.now += timeout
        return False


def sine_power(t):
    return 100.0 + 50.0 * math.sin(t)


def sine_energy(t):
    """The integral of sine_power from 0 to t."""
    return 100.0 * t + 50.0 * (1.0 - math.cos(t))


class CurveMeter:
    """One device following a known power curve; each read takes `cost_s` of simulated time and
    reports the value at its midpoint, as a power sample or as an energy counter. Read number
    `fail_at` raises instead, and sets `finished`."""

    name = "synthetic"
    devices = ("synthetic:0",)
    description = "a known power curve"

    def __init__(self, clock, power=sine_power, energy=sine_energy, counter=False, cost_s=0.0, fail_at=None,
                 finished=None):
        self.clock, self.power, self.energy = clock, power, energy
        self.counter, self.cost_s, self.fail_at = counter, cost_s, fail_at
        self.midpoints = []
        self.finished = finished or threading.Event()

    def read(self):
        if self.fail_at is not None and len(self.midpoints) + 1 == self.fail_at:
            self.finished.set()
            raise OSError("sensor bus timeout")
        midpoint = self.clock.now + self.cost_s / 2
        self.clock.now += self.cost_s
        self.midpoints.append(midpoint)
        if self.counter:
            return {"synthetic:0": DeviceReading(energy_j=self.energy(midpoint))}
        return {"synthetic:0": DeviceReading(power_w=self.power(midpoint))}

    def close(self):
        pass


def simulate(meter_kwargs=None, hz=10.0, end_s=20.0):
    """Run a sampler on simulated time from 0 to `end_s`; return (measurement, meter)."""
    clock, finished = SimulatedClock(), threading.Event()
    meter = CurveMeter(clock, finished=finished, **(meter_kwargs or {}))
    sampler = EnergySampler(meter, hz=hz, clock=clock, wait=SimulatedWait(clock, end_s, finished))
    sampler.start()
    assert finished.wait(30), "the sampler thread neither reached the end nor failed"
    return sampler.stop(), meter


def exact_energy(meter):
    return sine_energy(meter.midpoints[-1]) - sine_energy(meter.midpoints[0])


def test_power_samples_integrate_the_curve_closely():
    measurement, meter = simulate({"cost_s": 0.002})
    assert measurement.method == "integrated"
    assert measurement.complete
    # trapezoid error <= duration * period^2 / 12 * max|P''| = 20 * 0.01 / 12 * 50 = 0.83 J
    assert abs(measurement.joules - exact_energy(meter)) < 0.84
    assert measurement.per_device_j == {"synthetic:0": measurement.joules}
    assert measurement.average_w == pytest.approx(measurement.joules / measurement.duration_s)
    assert 145 < measurement.peak_w <= 150


def test_an_energy_counter_is_exact():
    measurement, meter = simulate({"counter": True, "cost_s": 0.002})
    assert measurement.method == "counter"
    assert measurement.joules == pytest.approx(exact_energy(meter), rel=1e-12)
    assert trace_energy_j(measurement.trace) == pytest.approx(measurement.joules, rel=1e-12)


def test_readings_stay_on_the_grid_whatever_a_reading_costs():
    """Drift-free: reading k starts at start + k/hz, not after k sleeps of 1/hz plus k reads."""
    measurement, meter = simulate({"cost_s": 0.03})
    assert measurement.samples == len(meter.midpoints) == 201  # start, 199 ticks, stop at 20 s
    ticks = [m - meter.midpoints[0] for m in meter.midpoints[1:-1]]
    assert ticks == pytest.approx([0.1 * k for k in range(1, 200)], abs=1e-9)
    assert measurement.achieved_hz == pytest.approx(10.0, rel=0.01)
    assert measurement.sampling_s == pytest.approx(201 * 0.03)


def test_a_reading_slower_than_the_period_skips_ticks_instead_of_drifting():
    measurement, meter = simulate({"cost_s": 0.25}, end_s=30.0)
    gaps = {round(b - a, 9) for a, b in zip(meter.midpoints[:-1], meter.midpoints[1:-1])}
    assert gaps == {0.3}  # 0.25 s overran the ticks at +0.1 and +0.2; the next is at +0.3
    assert measurement.achieved_hz == pytest.approx(1 / 0.3, rel=0.02)


def test_a_power_step_is_integrated_within_half_a_period_of_the_jump():
    def step(t):
        return 50.0 if t < 5.05 else 300.0

    def step_energy(t):
        return 50.0 * min(t, 5.05) + 300.0 * max(0.0, t - 5.05)

    measurement, meter = simulate({"power": step, "energy": step_energy})
    exact = step_energy(meter.midpoints[-1]) - step_energy(meter.midpoints[0])
    assert abs(measurement.joules - exact) <= (300 - 50) * 0.1 / 2
    assert measurement.peak_w == 300.0


def test_a_long_run_keeps_its_trace_small_and_its_energy():
    measurement, _ = simulate(end_s=200.0)  # 2000 intervals at 10 Hz
    assert len(measurement.trace) <= 600
    assert trace_energy_j(measurement.trace) == pytest.approx(measurement.joules, rel=1e-12)
    assert measurement.trace[-1][0] == pytest.approx(measurement.duration_s)


@given(st.lists(st.tuples(st.floats(1e-3, 10.0), st.floats(0.0, 1e4)), min_size=1, max_size=300),
       st.integers(1, 50))
def test_compaction_preserves_energy_and_bounds_the_points(widths_and_watts, max_points):
    stretches, end = [], 0.0
    for width, watts in widths_and_watts:
        end += width
        stretches.append(Stretch(end, width, watts))
    points = compact(stretches, max_points)
    assert len(points) <= max_points
    assert trace_energy_j(points) == pytest.approx(sum(s.width_s * s.mean_w for s in stretches), rel=1e-9)
    assert points[-1][0] == end


def test_a_meter_that_fails_mid_run_keeps_what_was_measured_and_says_so():
    measurement, meter = simulate({"counter": True, "fail_at": 51}, end_s=20.0)
    assert not measurement.complete
    assert "synthetic failed" in measurement.failure and "OSError: sensor bus timeout" in measurement.failure
    assert measurement.samples == 50 == len(meter.midpoints)  # no reading was attempted at stop
    assert measurement.duration_s == pytest.approx(4.9)
    assert measurement.joules == pytest.approx(exact_energy(meter))


def test_a_meter_that_fails_at_start_gives_no_joules():
    measurement, _ = simulate({"fail_at": 1})
    assert measurement.joules is None and measurement.samples == 0
    assert "sensor bus timeout" in measurement.failure


@pytest.mark.parametrize("hz", [0.5, 0.0, -10.0, 1000.5, 1e6])
def test_rates_outside_1_to_1000_hz_are_refused(hz):
    with pytest.raises(ValueError, match=r"outside \[1, 1000\] Hz"):
        EnergySampler(CurveMeter(SimulatedClock()), hz=hz)


def test_a_sampler_measures_one_region():
    sampler = EnergySampler(CurveMeter(SimulatedClock()), hz=1.0, wait=lambda timeout: True)
    with pytest.raises(RuntimeError, match="before start"):
        sampler.stop()
    sampler.start()
    with pytest.raises(RuntimeError, match="one region"):
        sampler.start()
    sampler.stop()
    with pytest.raises(RuntimeError, match="stopped already"):
        sampler.stop()


def test_missing_power_readings_are_filled_and_noted():
    powers = [100.0, None, None, 130.0, None]
    samples = [Sample(float(t), {"ipu:board-1": DeviceReading(power_w=p)}) for t, p in enumerate(powers)]
    measurement = integrate("gcipuinfo", samples)
    # filled: 100, 110, 120, 130, 130 (the last from its nearest neighbour)
    assert measurement.joules == pytest.approx(105 + 115 + 125 + 130)
    assert measurement.notes == (
        "ipu:board-1: 3 of 5 readings missing, filled from their neighbours (estimated)",)
    assert measurement.complete


def test_a_device_that_never_reads_fails_the_measurement_instead_of_counting_zero():
    samples = [Sample(float(t), {"ipu:board-1": DeviceReading(power_w=None)}) for t in range(5)]
    measurement = integrate("gc-monitor", samples)
    assert measurement.joules is None
    assert measurement.failure == "ipu:board-1 gave no power reading during the run"


def test_a_counter_that_goes_backwards_fails_the_measurement():
    counter = [5.0, 9.0, 2.0]
    samples = [Sample(float(t), {"nvml:GPU-1": DeviceReading(energy_j=e)}) for t, e in enumerate(counter)]
    measurement = integrate("nvml", samples)
    assert "went backwards" in measurement.failure and measurement.joules is None


def test_gaps_over_one_second_are_noted_against_mlperf():
    measurement, _ = simulate({"cost_s": 1.5}, hz=1.0, end_s=10.0)
    assert any("MLPerf Power asks for at least one reading per second" in note for note in measurement.notes)


class RealTimeMeter:
    name = "real-time"
    devices = ("synthetic:0",)
    description = "constant 42 W"

    def __init__(self):
        self.read_times = []

    def read(self):
        self.read_times.append(time.perf_counter())
        return {"synthetic:0": DeviceReading(power_w=42.0)}

    def close(self):
        pass


def test_real_time_sampling_reads_at_start_at_the_rate_and_at_stop():
    meter = RealTimeMeter()
    sampler = EnergySampler(meter, hz=50.0)
    before_start = time.perf_counter()
    sampler.start()
    assert len(meter.read_times) >= 1 and meter.read_times[0] >= before_start
    time.sleep(0.3)
    stop_called = time.perf_counter()
    measurement = sampler.stop()
    assert meter.read_times[-1] >= stop_called  # the reading at stop
    assert measurement.samples == len(meter.read_times)
    # 0.3 s at 50 Hz is 15 ticks plus the readings at start and stop; loose for a shared machine
    assert 8 <= measurement.samples <= 20
    assert 25 <= measurement.achieved_hz <= 70
    assert measurement.joules == pytest.approx(42.0 * measurement.duration_s)
    assert measurement.sampling_s < measurement.duration_s / 10


def test_a_meter_stuck_in_a_reading_does_not_hang_stop(monkeypatch):
    monkeypatch.setattr(sampler_module, "STOP_TIMEOUT_S", 0.2)
    release = threading.Event()

    class StuckMeter(RealTimeMeter):
        def read(self):
            if self.read_times:
                release.wait(10)
            return super().read()

    sampler = EnergySampler(StuckMeter(), hz=50.0)
    sampler.start()
    time.sleep(0.1)
    measurement = sampler.stop()
    release.set()
    assert measurement.failure == "real-time was still in a reading 0.2 s after stop"
    assert measurement.samples == 1 and measurement.joules is None
