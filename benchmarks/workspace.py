"""A workload's dataset for a benchmark: the cache's when it holds the scale, else generated there first, as
`accelbench data generate` would (bench_workspace points the cache under tmp_path unless the caller set
ACCELBENCH_DATA_DIR, so a warm cache saves the generation)."""

from __future__ import annotations

from pathlib import Path

from accelbench.data import datasets
from accelbench.rules.schema import BenchmarkRules, Scale


def data_directory(rules: BenchmarkRules, scale: Scale) -> Path:
    """The scale's data directory, generated (and an inference workload's weights trained) if missing."""
    directory = datasets.data_directory(rules, scale)
    if datasets.is_generated(directory):
        datasets.train_missing_weights(rules, scale, directory)
    else:
        datasets.generate(rules, scale, directory)
    return directory


def load_splits(rules: BenchmarkRules, scale: Scale, splits: tuple[str, ...]) -> dict:
    """The splits in memory, checked against the manifest and the rules."""
    return datasets.load(rules, scale, data_directory(rules, scale), splits)
