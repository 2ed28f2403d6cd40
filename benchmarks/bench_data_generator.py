"""How fast the neuron_inverter generator runs here: one simulated chunk, then a whole scale end to end.

    python benchmarks/bench_data_generator.py                 # chunk of 2048, then the small scale
    python benchmarks/bench_data_generator.py --chunk-only    # the chunk and the projection only

The end-to-end run writes the scale's HDF5 file and manifest into a temporary directory (deleted
afterwards) with the seed and settings of rules/v1/neuron_inverter.toml, so it measures exactly
what `accelbench data generate neuron_inverter --scale small` does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from accelbench.reference.neuron_inverter import cell, data, simulator
from accelbench.rules.loader import load_rules


def time_chunk(samples: int, device: str, seed: int) -> float:
    """Seconds to simulate `samples` random cells (the generator's unit of work)."""
    phys = data.physical_parameters(data.unit_parameters(samples, seed, "train")).float().to(device)
    start = time.perf_counter()
    simulator.simulate(phys)
    if phys.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", help="scale of the rule file to generate (default small)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--chunk", type=int, default=2048, help="samples simulated at once")
    parser.add_argument("--chunk-only", action="store_true", help="skip the end-to-end generation")
    args = parser.parse_args()

    rules = load_rules("neuron_inverter")
    sizes = rules.dataset.splits[args.scale]
    total = sum(sizes.values())
    print(f"torch {torch.__version__}, device {args.device} (on CPU the time loop runs on one thread), "
          f"{len(cell.PARAMETERS)} parameters, {len(cell.PROBE_NAMES)} probes")

    seconds = time_chunk(args.chunk, args.device, rules.dataset.seed)
    rate = args.chunk / seconds
    print(f"chunk of {args.chunk}: {seconds:.2f} s = {rate:.0f} samples/s (simulation only)")
    print(f"projected {args.scale} ({total} samples): {total / rate:.0f} s")
    if args.chunk_only:
        return

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        manifest = data.generate(
            Path(tmp) / args.scale, sizes, rules.dataset.seed, device=args.device, chunk_size=args.chunk,
            **rules.dataset.parameters,
        )
        seconds = time.perf_counter() - start
        size_mb = (Path(tmp) / args.scale / manifest.file).stat().st_size / 1e6
    print(f"generated {args.scale} end to end ({total} samples, {size_mb:.0f} MB HDF5 + manifest): "
          f"{seconds:.1f} s = {total / seconds:.0f} samples/s")
    for split, entry in manifest.splits.items():
        print(f"  {split:<5} {entry.samples:>6} samples  sha256 {entry.sha256}")


if __name__ == "__main__":
    main()
