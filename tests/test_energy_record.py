"""The result's energy: every process's measurement summed once per device, or unavailable with
the reason; never 0 J and never a sum that silently misses a device."""

import pytest

from accelbench.energy.measurement import EnergyMeasurement
from accelbench.energy.meter import Unavailable
from accelbench.energy.selection import RAPL_ON_RANK_0
from accelbench.results.energy_record import RankEnergy, energy_record


def measured(devices, trace, meter="nvml", method="counter", failure=None, duration=10.0, hz=10.0):
    joules = sum(devices.values())
    return EnergyMeasurement(
        meter=meter, method=method, joules=joules, per_device_j=devices, average_w=joules / duration,
        peak_w=max(w for _, w in trace), duration_s=duration, samples=101, achieved_hz=hz,
        trace=trace, sampling_s=0.01, failure=failure,
    )


def test_one_process():
    record = energy_record([RankEnergy("h0", measured({"nvml:GPU-a": 2000.0}, [(5.0, 190.0), (10.0, 210.0)]))])
    assert record.available and record.joules == 2000.0 and record.meter == "nvml"
    assert record.average_w == 200.0 and record.peak_w == 210.0 and record.sampling_hz == 10.0
    assert record.trace == [(5.0, 190.0), (10.0, 210.0)] and record.method == "counter"


def test_two_gpus_are_summed_and_their_traces_added():
    record = energy_record([
        RankEnergy("h0", measured({"nvml:GPU-a": 2000.0}, [(0.0, 100.0), (10.0, 300.0)])),
        RankEnergy("h1", measured({"nvml:GPU-b": 1000.0}, [(0.0, 50.0), (10.0, 150.0)], hz=9.0)),
    ])
    assert record.joules == 3000.0 and set(record.per_device_j) == {"nvml:GPU-a", "nvml:GPU-b"}
    assert record.trace == [(0.0, 150.0), (10.0, 450.0)] and record.peak_w == 450.0
    assert record.sampling_hz == 9.0  # the slowest process's rate is what the record can claim


def test_ranks_of_one_host_count_its_rapl_package_once():
    rapl = measured({"rapl:package-0": 500.0}, [(1.0, 50.0)], meter="rapl")
    record = energy_record([RankEnergy("h0", rapl), RankEnergy("h0", Unavailable(RAPL_ON_RANK_0))])
    assert record.available and record.joules == 500.0
    assert record.per_device_j == {"h0/rapl:package-0": 500.0}


def test_a_process_that_should_have_measured_makes_the_energy_unavailable():
    record = energy_record([
        RankEnergy("h0", measured({"nvml:GPU-a": 2000.0}, [(1.0, 200.0)])),
        RankEnergy("h1", Unavailable("pynvml (nvidia-ml-py) is not installed")),
    ])
    assert not record.available and record.joules is None
    assert "incomplete" in record.reason and "pynvml" in record.reason
    assert record.per_device_j == {"nvml:GPU-a": 2000.0}  # what was measured stays visible


def test_a_meter_that_failed_mid_run_is_not_summed_as_if_complete():
    broken = measured({"nvml:GPU-a": 700.0}, [(1.0, 200.0)], failure="NVML_ERROR_GPU_IS_LOST")
    record = energy_record([RankEnergy("h0", broken)])
    assert not record.available and "NVML_ERROR_GPU_IS_LOST" in record.reason


@pytest.mark.parametrize("reasons", [["no /sys/class/powercap/intel-rapl:* package domains"], []])
def test_no_meter_anywhere_says_why(reasons):
    ranks = [RankEnergy("h0", Unavailable(reason)) for reason in reasons] or [
        RankEnergy("h0", Unavailable(RAPL_ON_RANK_0))]
    record = energy_record(ranks)
    assert not record.available and record.joules is None and record.reason
