"""How fast the snn_bptt generator runs here: one scale end to end, HDF5 file and manifest.

    pytest benchmarks/bench_snn_data_generator.py --benchmark-only [--bench-scale smoke]

The run writes the scale's HDF5 file and manifest into a temporary directory with the seed, split
sizes and generator parameters of the first snn_bptt variant's rule file (rules/v1/snn_bptt_*.toml:
the variants share the data), so it measures what `accelbench data generate` does for them; the
written file is then verified (timed apart, in extra_info). No goal is set for it, so the figure
recorded is the rate itself.
"""

from __future__ import annotations

import torch
from rounds import run_rounds, seconds_of

from accelbench.reference.snn_bptt import data
from accelbench.rules.loader import available_workloads, load_rules


def family_rules():
    """The rules of the first variant of the family (they share the data)."""
    return load_rules(next(w for w in available_workloads() if w.startswith(data.WORKLOAD + "_")))


def test_generate_snn_scale(benchmark, goal_ratio, bench_scale, tmp_path):
    rules = family_rules()
    seed, sizes, parameters = rules.dataset.seed, rules.dataset.splits[bench_scale], rules.dataset.parameters_for(bench_scale)
    folder = tmp_path / bench_scale
    manifests = []

    def generated() -> None:
        manifests.append(data.generate(folder, sizes, seed, **parameters))

    rounds = run_rounds(benchmark, lambda: seconds_of(generated), 1)
    verify_s = seconds_of(lambda: data.verify(folder))
    manifest, total = manifests[0], sum(sizes.values())
    assert {split: entry.samples for split, entry in manifest.splits.items()} == dict(sizes)
    benchmark.extra_info.update(
        rules=rules.workload, scale=bench_scale, seed=seed, parameters=dict(parameters), splits=dict(sizes),
        threads=torch.get_num_threads(), hdf5_mb=(folder / manifest.file).stat().st_size / 1e6, verify_s=verify_s,
        sha256={split: entry.sha256 for split, entry in manifest.splits.items()})
    goal_ratio("samples generated / s", total / rounds.subject[0], "none set")
