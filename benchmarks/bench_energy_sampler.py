"""Energy sampler overhead: a CPU-bound workload with and without the sampler, in one run (goal < 1%).

    python benchmarks/bench_energy_sampler.py [--pairs 9] [--seconds 2] [--hz 10]

The workload is a loop of 512x512 float32 matmuls, its length calibrated once to about
--seconds. The sampled side runs the same loop while an EnergySampler reads a RAPL meter at
--hz: a fake powercap tree (package-0 and its DRAM domain, in a temporary directory) whose reads
take the same code path as real RAPL (open and parse two small files). After one uncounted
warm-up, pairs run interleaved (bare, sampled, bare, ...) so that load on this shared machine
hits both sides alike; the median of the per-pair ratios is printed with their spread (the noise
floor), next to the sampler's direct cost: the time it spent reading, over the run's time. Where
/sys/class/powercap is readable, the same is repeated with the real RAPL meter.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from accelbench.energy.meter import PowerMeter, Unavailable
from accelbench.energy.rapl import POWERCAP, rapl_meter
from accelbench.energy.sampler import EnergySampler

SIZE = 512


def workload(iterations: int) -> float:
    """Seconds for `iterations` chained matmuls (the result feeds the next, so none is skipped)."""
    a = torch.randn(SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    b = torch.randn(SIZE, SIZE, generator=torch.Generator().manual_seed(1)) / SIZE**0.5
    start = time.perf_counter()
    for _ in range(iterations):
        a = torch.tanh(a @ b)
    float(a.sum())
    return time.perf_counter() - start


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
    start = time.perf_counter()
    for _ in range(reads):
        meter.read()
    return (time.perf_counter() - start) / reads


def compare(meter: PowerMeter, iterations: int, pairs: int, hz: float) -> None:
    """Interleaved pairs of the bare and the sampled workload; print the ratios and the costs."""
    read_s = seconds_per_read(meter)
    print(f"meter: {meter.description}, {read_s * 1e6:.1f} µs per read, so {hz:g} Hz should cost "
          f"{100 * read_s * hz:.3f}% of one core")
    workload(iterations)  # warm-up, not counted
    ratios, direct = [], []
    for pair in range(pairs):
        bare = workload(iterations)
        sampler = EnergySampler(meter, hz=hz)
        sampler.start()
        sampled = workload(iterations)
        measurement = sampler.stop()
        ratios.append(sampled / bare)
        direct.append(measurement.sampling_s / measurement.duration_s)
        print(f"  pair {pair + 1}: bare {bare:.3f} s, sampled {sampled:.3f} s, ratio {ratios[-1]:.4f}; "
              f"{measurement.samples} readings at {measurement.achieved_hz:.2f} Hz, reading took "
              f"{100 * direct[-1]:.3f}% of the time")
    ratio = statistics.median(ratios)
    print("per-pair ratios sampled/bare: " + ", ".join(f"{r:.4f}" for r in sorted(ratios)))
    print(f"median ratio {ratio:.4f} (overhead {100 * (ratio - 1):+.2f}%; goal < +1%), spread "
          f"{100 * (min(ratios) - 1):+.2f}% .. {100 * (max(ratios) - 1):+.2f}%; direct cost (time "
          f"reading / run time) median {100 * statistics.median(direct):.3f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--hz", type=float, default=10.0)
    args = parser.parse_args()

    iterations = calibrated_iterations(args.seconds)
    print(f"workload: {iterations} chained {SIZE}x{SIZE} matmuls (~{args.seconds:g} s), "
          f"{torch.get_num_threads()} torch threads, {args.pairs} interleaved pairs, "
          f"sampler at {args.hz:g} Hz")
    with tempfile.TemporaryDirectory() as tmp:
        compare(rapl_meter(fake_powercap(Path(tmp))), iterations, args.pairs, args.hz)
    real = rapl_meter(POWERCAP)
    if isinstance(real, Unavailable):
        print(f"real RAPL not measured: {real.reason}")
    else:
        compare(real, iterations, args.pairs, args.hz)


if __name__ == "__main__":
    main()
