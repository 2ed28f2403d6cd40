"""How fast the neuron_inverter generator runs here: one simulated chunk, then a whole scale end to end
(goal: the small scale in under 2 min).

    pytest benchmarks/bench_data_generator.py --benchmark-only [--bench-scale smoke] [--bench-device cuda]

The chunk is the generator's unit of work: that many random cells simulated at once (on CPU the
time loop runs on one thread). The end-to-end run writes the scale's HDF5 file and manifest into a
temporary directory with the seed and settings of rules/v1/neuron_inverter.toml, so it measures
exactly what `accelbench data generate neuron_inverter --scale S` does. Both record their rate as
the goal ratio: the small scale's samples at that rate, over the goal's 2 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from rounds import run_rounds, seconds_of

from accelbench.reference.neuron_inverter import cell, data, simulator
from accelbench.rules.loader import load_rules
from accelbench.rules.schema import Scale

GOAL_SCALE, GOAL_S = "small", 120.0
GOAL_NAME = f"projected {GOAL_SCALE} generation / {GOAL_S:g} s"


@dataclass(frozen=True)
class Size:
    scale: Scale  # generated end to end
    chunk: int  # samples simulated at once


SIZES = {"smoke": Size("smoke", chunk=512), "small": Size("small", chunk=2048), "full": Size("full", chunk=2048)}


def record_rate(benchmark, goal_ratio, rules, samples: int, seconds: float) -> None:
    rate = samples / seconds
    projected = sum(rules.dataset.splits[GOAL_SCALE].values()) / rate
    benchmark.extra_info.update(samples=samples, seconds=seconds, samples_per_s=rate,
                                parameters=len(cell.PARAMETERS), probes=len(cell.PROBE_NAMES))
    goal_ratio(GOAL_NAME, projected / GOAL_S, "< 1", met=projected < GOAL_S)


def test_simulate_one_chunk(benchmark, goal_ratio, bench_scale, torch_device):
    """Simulation only, no HDF5."""
    chunk = SIZES[bench_scale].chunk
    rules = load_rules("neuron_inverter")
    phys = data.physical_parameters(data.unit_parameters(chunk, rules.dataset.seed, "train")).float().to(torch_device)

    def simulated() -> None:
        simulator.simulate(phys)
        if phys.device.type == "cuda":
            torch.cuda.synchronize()

    rounds = run_rounds(benchmark, lambda: seconds_of(simulated), 1)
    benchmark.extra_info["device"] = str(torch_device)
    record_rate(benchmark, goal_ratio, rules, chunk, rounds.subject[0])


def test_generate_neuron_inverter_scale(benchmark, goal_ratio, bench_scale, torch_device, tmp_path):
    size = SIZES[bench_scale]
    rules = load_rules("neuron_inverter")
    sizes = rules.dataset.splits[size.scale]
    manifests = []

    def generated() -> None:
        manifests.append(data.generate(tmp_path / size.scale, sizes, rules.dataset.seed, device=str(torch_device),
                                       chunk_size=size.chunk, **rules.dataset.parameters))

    rounds = run_rounds(benchmark, lambda: seconds_of(generated), 1)
    manifest = manifests[0]
    assert {split: entry.samples for split, entry in manifest.splits.items()} == dict(sizes)
    benchmark.extra_info.update(
        scale=size.scale, device=str(torch_device), hdf5_mb=(tmp_path / size.scale / manifest.file).stat().st_size / 1e6,
        sha256={split: entry.sha256 for split, entry in manifest.splits.items()})
    record_rate(benchmark, goal_ratio, rules, sum(sizes.values()), rounds.subject[0])
