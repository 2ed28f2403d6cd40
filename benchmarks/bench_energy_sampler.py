"""Energy sampler overhead: a CPU-bound workload with and without the sampler, in one run (goal < +1 %).

    pytest benchmarks/bench_energy_sampler.py --benchmark-only [--bench-scale smoke]

The workload is a loop of 512x512 float32 matmuls, its length calibrated once to about the size's
seconds. The sampled side runs the same loop while an EnergySampler reads a RAPL meter at 10 Hz:
a fake powercap tree (package-0 and its DRAM domain, in a temporary directory) whose reads take
the same code path as real RAPL (open and parse two small files), and, where /sys/class/powercap
is readable, the real one (skipped elsewhere, with the reason). After one uncounted warm-up, pairs
run interleaved (bare, sampled, bare, ...) so that load on this shared machine hits both sides
alike; the goal ratio is the median of the per-pair ratios, whose spread is the noise floor, and
extra_info carries the sampler's direct cost: the time it spent reading, over the run's time.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from rounds import run_rounds, seconds_of

from accelbench.energy.meter import PowerMeter, Unavailable
from accelbench.energy.rapl import POWERCAP, rapl_meter
from accelbench.energy.sampler import EnergySampler

SIZE = 512
HZ = 10.0
GOAL = 1.01


@dataclass(frozen=True)
class Size:
    pairs: int
    seconds: float  # of one workload run


SIZES = {"smoke": Size(pairs=3, seconds=0.5), "small": Size(pairs=9, seconds=2.0), "full": Size(pairs=9, seconds=2.0)}


def workload(iterations: int) -> float:
    """Seconds for `iterations` chained matmuls (the result feeds the next, so none is skipped)."""
    a = torch.randn(SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    b = torch.randn(SIZE, SIZE, generator=torch.Generator().manual_seed(1)) / SIZE**0.5

    def chain() -> None:
        nonlocal a
        for _ in range(iterations):
            a = torch.tanh(a @ b)
        float(a.sum())

    return seconds_of(chain)


def calibrated_iterations(seconds: float) -> int:
    probe = 50
    return max(1, round(probe * seconds / workload(probe)))


def fake_powercap(root: Path) -> Path:
    for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "dram")):
        (root / zone).mkdir(parents=True)
        (root / zone / "name").write_text(f"{name}\n")
        (root / zone / "energy_uj").write_text("123456789012\n")
        (root / zone / "max_energy_range_uj").write_text("262143328850\n")
    return root


def seconds_per_read(meter: PowerMeter, reads: int = 20_000) -> float:
    return seconds_of(lambda: [meter.read() for _ in range(reads)]) / reads


@pytest.fixture(params=["fake RAPL", "real RAPL"])
def meter(request, tmp_path) -> PowerMeter:
    if request.param == "fake RAPL":
        return rapl_meter(fake_powercap(tmp_path / "powercap"))
    real = rapl_meter(POWERCAP)
    if isinstance(real, Unavailable):
        pytest.skip(f"real RAPL not measured: {real.reason}")
    return real


def test_energy_sampler_overhead(benchmark, goal_ratio, bench_scale, meter):
    size = SIZES[bench_scale]
    iterations = calibrated_iterations(size.seconds)
    read_s = seconds_per_read(meter)
    workload(iterations)  # warm-up, not counted
    direct, achieved_hz = [], []  # time the sampler spent reading over the sampled run's time; its rate

    def sampled() -> float:
        sampler = EnergySampler(meter, hz=HZ)
        sampler.start()
        seconds = workload(iterations)
        measurement = sampler.stop()
        assert measurement.complete, measurement.failure
        direct.append(measurement.sampling_s / measurement.duration_s)
        achieved_hz.append(measurement.achieved_hz)
        return seconds

    rounds = run_rounds(benchmark, sampled, size.pairs, peer=lambda: workload(iterations))

    ratio, pair_ratios = rounds.median_pair_ratio(), rounds.pair_ratios()
    benchmark.extra_info.update(
        meter=meter.description, iterations=iterations, matmul_size=SIZE, threads=torch.get_num_threads(), hz=HZ,
        read_us=read_s * 1e6, expected_cost_fraction=read_s * HZ, direct_cost_fraction_median=statistics.median(direct),
        achieved_hz_median=statistics.median(achieved_hz),
        pair_ratio_min=min(pair_ratios), pair_ratio_max=max(pair_ratios))
    print(f"meter: {meter.description}, {read_s * 1e6:.1f} µs per read; per-pair ratios sampled/bare "
          f"{', '.join(f'{r:.4f}' for r in sorted(pair_ratios))}; direct cost median "
          f"{100 * statistics.median(direct):.3f}%")
    goal_ratio("sampled / bare (median of pairs)", ratio, f"< {GOAL}", met=ratio < GOAL)
