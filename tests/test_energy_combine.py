"""Several processes, one run: each device counted once."""

from accelbench.energy.combine import device_key, sum_once_per_device
from accelbench.energy.measurement import EnergyMeasurement


def measured(per_device_j, failure=None):
    joules = sum(per_device_j.values())
    return EnergyMeasurement("test", "counter", joules, per_device_j, joules / 10, None, 10.0, 101, 10.0, [],
                             0.001, failure)


def test_each_host_has_its_own_sockets_but_a_gpu_or_board_is_one_worldwide():
    assert device_key("node1", "rapl:package-0") == "node1/rapl:package-0"
    assert device_key("node1", "nvml:GPU-8a1f") == "nvml:GPU-8a1f"
    assert device_key("node2", "ipu:board-0031.0002.8205621") == "ipu:board-0031.0002.8205621"


def test_two_hosts_two_gpus_each_and_their_cpus():
    combined = sum_once_per_device([
        ("node1", measured({"nvml:GPU-a": 300.0})), ("node1", measured({"nvml:GPU-b": 310.0})),
        ("node1", measured({"rapl:package-0": 90.0})),
        ("node2", measured({"nvml:GPU-c": 305.0})), ("node2", measured({"nvml:GPU-d": 295.0})),
        ("node2", measured({"rapl:package-0": 88.0})),
    ])
    assert combined.joules == 300 + 310 + 90 + 305 + 295 + 88
    assert len(combined.per_device_j) == 6 and combined.complete and combined.counted_once == ()


def test_a_board_measured_by_two_processes_counts_once_from_the_first():
    board = "ipu:board-0031.0002.8205621"
    combined = sum_once_per_device([("pod-host-1", measured({board: 1200.0})),
                                    ("pod-host-2", measured({board: 1201.5}))])
    assert combined.joules == 1200.0 and combined.counted_once == (board,)


def test_a_failed_process_makes_the_sum_incomplete():
    broken = measured({"nvml:GPU-b": 120.0}, failure="nvml failed 4.0 s in")
    combined = sum_once_per_device([("node1", measured({"nvml:GPU-a": 300.0})), ("node2", broken)])
    assert not combined.complete and combined.failures == ("node2: nvml failed 4.0 s in",)
    assert combined.joules == 420.0


def test_nothing_measured_is_none_not_zero():
    assert sum_once_per_device([]).joules is None
