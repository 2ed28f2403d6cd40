"""The background sampler: reads a meter at a fixed rate over the timed region only.

One reading is taken in start() and one in stop(), so the integral spans exactly the region the
harness times; between them a daemon thread reads at `hz`. Reading times are kept on a fixed grid
(start + k / hz) instead of sleeping 1/hz after each reading, so the time a reading takes does not
stretch the period; a reading slower than the period skips the ticks it overran.

A meter that raises stops the sampling: the readings so far are kept and the measurement is
marked failed with the error, never padded out or reported as 0 J.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from accelbench.energy.integration import Sample, integrate
from accelbench.energy.measurement import EnergyMeasurement
from accelbench.energy.meter import PowerMeter

MIN_HZ = 1.0  # MLPerf Power: at least one reading per second
MAX_HZ = 1000.0  # beyond this the sampler costs more than the sensors resolve
STOP_TIMEOUT_S = 30.0  # a meter stuck in a reading must not hang the end of a run
Clock = Callable[[], float]
Wait = Callable[[float], bool]


class EnergySampler:
    """start() at the beginning of the timed region, stop() at its end; one use per sampler.

    `clock` gives the time in seconds; `wait(timeout)` pauses between readings and returns True
    when sampling should end. Both default to real time; tests pass simulated ones.
    """

    def __init__(self, meter: PowerMeter, hz: float = 10.0, clock: Clock = time.perf_counter,
                 wait: Wait | None = None) -> None:
        if not MIN_HZ <= hz <= MAX_HZ:
            raise ValueError(f"sampling rate {hz} Hz is outside [{MIN_HZ:g}, {MAX_HZ:g}] Hz: MLPerf Power "
                             "needs at least one reading per second, and faster costs more than it tells")
        self.meter = meter
        self.hz = hz
        self._clock = clock
        self._stop_requested = threading.Event()
        self._wait = wait or self._stop_requested.wait
        self._samples: list[Sample] = []
        self._failure: str | None = None
        self._sampling_s = 0.0
        self._thread: threading.Thread | None = None
        self._grid_start = 0.0
        self._stopped = False

    def start(self) -> None:
        if self._thread is not None or self._samples:
            raise RuntimeError("an EnergySampler measures one region: make a new one for the next")
        self._grid_start = self._clock()
        if self._take_reading():
            self._thread = threading.Thread(target=self._sample_until_stopped, name="energy-sampler",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> EnergyMeasurement:
        if not self._samples and self._failure is None:
            raise RuntimeError("stop() before start(): there is no region to measure")
        if self._stopped:
            raise RuntimeError("this EnergySampler was stopped already")
        self._stopped = True
        self._stop_requested.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            if self._thread.is_alive():
                self._failure = self._failure or (f"{self.meter.name} was still in a reading "
                                                  f"{STOP_TIMEOUT_S:g} s after stop")
        if self._failure is None:
            self._take_reading()
        return integrate(self.meter.name, list(self._samples), sampling_s=self._sampling_s,
                         failure=self._failure)

    def _sample_until_stopped(self) -> None:
        period = 1.0 / self.hz
        tick = 0
        while True:
            # the first grid point still ahead (and always a later one: rounding must not repeat it)
            tick = max(tick + 1, math.floor((self._clock() - self._grid_start) / period) + 1)
            if self._wait(max(0.0, self._grid_start + tick * period - self._clock())):
                return
            if self._stop_requested.is_set() or not self._take_reading():
                return

    def _take_reading(self) -> bool:
        """Read the meter once; on failure record why and return False."""
        before = self._clock()
        try:
            readings = self.meter.read()
        except Exception as error:  # any meter, any failure: the measurement must say so
            self._failure = (f"{self.meter.name} failed {before - self._grid_start:.1f} s into the "
                             f"region: {type(error).__name__}: {error}")
            return False
        after = self._clock()
        self._sampling_s += after - before
        self._samples.append(Sample((before + after) / 2, readings))
        return True
