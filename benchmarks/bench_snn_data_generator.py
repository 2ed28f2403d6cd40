"""How fast the snn_bptt generator runs here: one scale end to end, HDF5 file and manifest.

    python benchmarks/bench_snn_data_generator.py                 # the small scale
    python benchmarks/bench_snn_data_generator.py --scale smoke

The run writes the scale's HDF5 file and manifest into a temporary directory (deleted afterwards)
with the seed, split sizes and generator parameters of rules/v1/snn_bptt.toml, or else of the first
variant's rule file that loads (rules/v1/snn_bptt_*.toml: the variants share the data), so it
measures what `accelbench data generate` does for them. When no such rule file loads, the scales
written out below are used instead, and the script says so.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from accelbench.reference.snn_bptt import data
from accelbench.rules.loader import available_workloads, load_rules

_COMMON = dict(frequencies=4, smoothness=1.0, jitter_steps=1.0, noise_rate=0.002)
FALLBACK_SEED = 20210527
FALLBACK_SCALES = {  # used only when the rule file cannot be loaded
    "smoke": (
        dict(classes=5, channels=32, steps=40, manifold_dim=1, **_COMMON),
        {"train": 1024, "val": 256, "test": 256},
    ),
    "small": (
        dict(classes=10, channels=100, steps=100, manifold_dim=2, **_COMMON),
        {"train": 8192, "val": 1024, "test": 1024},
    ),
    "full": (
        dict(classes=20, channels=700, steps=100, manifold_dim=3, **_COMMON),
        {"train": 65536, "val": 8192, "test": 8192},
    ),
}


def family_rules() -> tuple[object | None, str]:
    """The first rule file that loads among snn_bptt and its variants (snn_bptt_*, which share the data)."""
    candidates = [data.WORKLOAD] + [w for w in available_workloads() if w.startswith(data.WORKLOAD + "_")]
    reasons = []
    for workload in candidates:
        try:
            return load_rules(workload), f"rules/v1/{workload}.toml"
        except Exception as error:  # noqa: BLE001 - any failure means: this rule file is not usable
            reasons.append(" ".join(str(error).split()))
    return None, "; ".join(reasons)


def scale_settings(scale: str) -> tuple[int, dict, dict[str, int], str]:
    """(seed, generator parameters, split sizes, where they came from) of one scale."""
    rules, source = family_rules()
    if rules is None:
        if scale not in FALLBACK_SCALES:
            raise SystemExit(f"unknown scale {scale!r}; pick one of {', '.join(FALLBACK_SCALES)}")
        parameters, sizes = FALLBACK_SCALES[scale]
        return FALLBACK_SEED, dict(parameters), dict(sizes), f"the script's own table (no rules: {source})"
    dataset = rules.dataset
    if scale not in dataset.splits:
        raise SystemExit(f"{source} has no scale {scale!r}; pick one of {', '.join(dataset.splits)}")
    parameters_for = getattr(dataset, "parameters_for", None)
    parameters = parameters_for(scale) if callable(parameters_for) else dict(dataset.parameters)
    return dataset.seed, dict(parameters), dict(dataset.splits[scale]), source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", help="smoke, small or full (default small)")
    parser.add_argument("--device", default="cpu", help="passed on; it computes on the CPU anyway")
    args = parser.parse_args()

    seed, parameters, sizes, source = scale_settings(args.scale)
    total = sum(sizes.values())
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), settings from {source}")
    print(f"{args.scale}: seed {seed}, {parameters}, splits {sizes}")

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        manifest = data.generate(Path(tmp) / args.scale, sizes, seed, device=args.device, **parameters)
        seconds = time.perf_counter() - start
        size_mb = (Path(tmp) / args.scale / manifest.file).stat().st_size / 1e6
        start = time.perf_counter()
        data.verify(Path(tmp) / args.scale)
        verify_seconds = time.perf_counter() - start
    print(f"generated {args.scale} end to end ({total} samples, {size_mb:.1f} MB HDF5 + manifest): "
          f"{seconds:.2f} s = {total / seconds:.0f} samples/s; verify {verify_seconds:.2f} s")
    for split, entry in manifest.splits.items():
        print(f"  {split:<5} {entry.samples:>6} samples  sha256 {entry.sha256}")


if __name__ == "__main__":
    main()
