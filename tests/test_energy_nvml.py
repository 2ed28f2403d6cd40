"""The NVML meter against a fake pynvml holding values recorded from two A100s."""

import sys
from types import SimpleNamespace

import pytest

from accelbench.energy.integration import Sample, integrate
from accelbench.energy.meter import Unavailable
from accelbench.energy.nvml import NOT_INSTALLED, NvmlMeter, nvml_meter, nvml_meter_for_rank

# nvidia-smi --query-gpu=index,uuid,power.draw,total_energy_consumption style values, as pynvml
# returns them: UUID strings, milliwatts, millijoules since the driver loaded.
A100_0 = "GPU-8a1f3c52-6d0e-4b7a-9c35-2e81f0d4a6b7"
A100_1 = "GPU-c47e9b10-3f2a-48d1-b6e5-7a90d2c3e1f8"
RECORDED = {
    A100_0: {"power_mw": [61234, 287451, 301876], "energy_mj": [48233915012, 48234202463, 48234504339]},
    A100_1: {"power_mw": [58012, 276530, 290004], "energy_mj": [51002110875, 51002387405, 51002677409]},
}


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801 - pynvml's own name
    pass


def fake_pynvml(recorded=RECORDED, without_counter=(), fail_init=None):
    """A module object with the pynvml functions the meter calls, replaying `recorded` in order."""
    uuids = list(recorded)
    cursor = {uuid: {"power_mw": 0, "energy_mj": 0} for uuid in uuids}
    calls = []

    def replay(handle, quantity):
        values = recorded[handle][quantity]
        value = values[min(cursor[handle][quantity], len(values) - 1)]
        cursor[handle][quantity] += 1
        return value

    def init():
        calls.append("init")
        if fail_init:
            raise fail_init

    def energy(handle):
        if handle in without_counter:
            raise NVMLError_NotSupported("Not Supported")
        return replay(handle, "energy_mj")

    return SimpleNamespace(
        NVMLError=NVMLError, NVMLError_NotSupported=NVMLError_NotSupported, calls=calls,
        nvmlInit=init,
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetCount=lambda: len(uuids),
        nvmlDeviceGetHandleByIndex=lambda index: uuids[index],
        nvmlDeviceGetUUID=lambda handle: handle,
        nvmlDeviceGetPowerUsage=lambda handle: replay(handle, "power_mw"),
        nvmlDeviceGetTotalEnergyConsumption=energy,
    )


def measure(meter, readings=2):
    """Integrate `readings` readings of `meter` taken one second apart."""
    return integrate(meter.name, [Sample(float(t), meter.read()) for t in range(readings)])


def test_the_energy_counter_gives_joules_and_power_samples_the_trace():
    meter = nvml_meter([A100_0], fake_pynvml())
    assert isinstance(meter, NvmlMeter)
    assert meter.devices == ("nvml:GPU-8a1f3c52-6d0e-4b7a-9c35-2e81f0d4a6b7",)
    assert "energy counter" in meter.description
    measurement = measure(meter, readings=3)
    # the probe read the first recorded values; the three readings are the rest (last repeated)
    assert measurement.method == "counter"
    assert measurement.joules == pytest.approx((48234504339 - 48234202463) / 1000)
    assert measurement.trace == [(1.0, pytest.approx(294.6635)), (2.0, pytest.approx(301.876))]


def test_not_supported_falls_back_to_integrating_power():
    meter = nvml_meter([A100_0], fake_pynvml(without_counter={A100_0}))
    assert "power samples, integrated" in meter.description
    first, second = meter.read(), meter.read()
    device = meter.devices[0]
    assert first[device].energy_j is None
    assert (first[device].power_w, second[device].power_w) == pytest.approx((287.451, 301.876))
    measurement = integrate("nvml", [Sample(0.0, first), Sample(2.0, second)])
    assert measurement.method == "integrated"
    assert measurement.joules == pytest.approx((287.451 + 301.876) / 2 * 2.0)


def test_several_gpus_are_measured_each_and_summed():
    meter = nvml_meter([A100_0, A100_1], fake_pynvml(without_counter={A100_1}))
    measurement = measure(meter)
    per_gpu = measurement.per_device_j
    assert per_gpu == {
        "nvml:GPU-8a1f3c52-6d0e-4b7a-9c35-2e81f0d4a6b7": pytest.approx(301.876),
        "nvml:GPU-c47e9b10-3f2a-48d1-b6e5-7a90d2c3e1f8": pytest.approx((276.530 + 290.004) / 2),
    }
    assert measurement.joules == pytest.approx(sum(per_gpu.values()))
    assert measurement.method == "mixed"


@pytest.mark.parametrize(("local_rank", "visible", "expected"), [
    (0, ["c47e9b10-3f2a-48d1-b6e5-7a90d2c3e1f8", "8a1f3c52-6d0e-4b7a-9c35-2e81f0d4a6b7"], A100_1),
    (1, ["c47e9b10-3f2a-48d1-b6e5-7a90d2c3e1f8", "8a1f3c52-6d0e-4b7a-9c35-2e81f0d4a6b7"], A100_0),
    (3, ["8A1F3C52-6D0E-4B7A-9C35-2E81F0D4A6B7"], A100_0),  # srun --gpus-per-task: the only one
])
def test_each_rank_measures_the_gpu_it_computes_on(local_rank, visible, expected):
    """CUDA's order (torch's UUIDs, no prefix) differs from NVML's: the UUID decides."""
    meter = nvml_meter_for_rank(local_rank, fake_pynvml(), cuda_uuids=visible)
    assert meter.devices == (f"nvml:{expected}",)


def test_a_gpu_nvml_cannot_see_is_unavailable_and_nvml_is_released():
    nvml = fake_pynvml()
    result = nvml_meter(["MIG-0d5c2a1b-aaaa-bbbb-cccc-000000000000"], nvml)
    assert isinstance(result, Unavailable)
    assert "NVML sees no GPU with this process's UUID" in result.reason
    assert nvml.calls == ["init", "shutdown"]


def test_nvml_that_cannot_start_is_unavailable():
    result = nvml_meter([A100_0], fake_pynvml(fail_init=NVMLError("Driver Not Loaded")))
    assert isinstance(result, Unavailable)
    assert result.reason.startswith("NVML could not start (Driver Not Loaded)")


def test_without_pynvml_the_reason_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    assert nvml_meter([A100_0]) == Unavailable(NOT_INSTALLED)


def test_close_shuts_nvml_down():
    nvml = fake_pynvml()
    nvml_meter([A100_0], nvml).close()
    assert nvml.calls == ["init", "shutdown"]


def test_the_fake_matches_the_real_pynvml_api():
    """Every name the meter calls exists in nvidia-ml-py (installed by the `test` extra)."""
    import pynvml

    for name in vars(fake_pynvml()):
        if name != "calls":
            assert hasattr(pynvml, name), name
    assert issubclass(pynvml.NVMLError_NotSupported, pynvml.NVMLError)
