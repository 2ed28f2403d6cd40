"""The trained weights an inference workload serves: trained once by its family's recipe
(`accelbench.reference.<family>.weights.train`) when its data are generated, or on first use when a
sibling workload of the family generated them, stored beside the data as `<workload>.weights.npz`
(a family's variants serve different weights from one dataset), and checked against the rules'
content hash every time they are read. No weights live in git: the seeded recipe and the hash are
the record.
"""

from __future__ import annotations

import importlib
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from accelbench.data.manifest import content_sha256
from accelbench.errors import UserError
from accelbench.rules.schema import BenchmarkRules, Scale


def weights_path(data_dir: Path, workload: str) -> Path:
    return Path(data_dir) / f"{workload}.weights.npz"


def weights_sha256(weights: Mapping[str, np.ndarray]) -> str:
    """The content hash of named arrays (names, dtypes, shapes, bytes), in name order."""
    return content_sha256((name, np.ascontiguousarray(weights[name])) for name in sorted(weights))


def train_weights(rules: BenchmarkRules, scale: Scale, data_dir: Path,
                  progress: Callable[[int, int], None] | None = None) -> Path:
    """Train the weights by the rules' recipe on the generated training split, and write them."""
    assert rules.inference is not None
    from accelbench.data.datasets import data_module  # datasets calls this module: imported here, not above

    recipe = rules.inference.weights
    train_split = data_module(rules).load(data_dir, ("train",))["train"]
    weights = importlib.import_module(f"accelbench.reference.{rules.family}.weights").train(
        train_split.inputs, train_split.targets, seed=recipe.seed, progress=progress,
        **recipe.parameters_for(scale),
    )
    path = weights_path(data_dir, rules.workload)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        np.savez(out, **weights)
    partial.replace(path)
    return path


def load_weights(rules: BenchmarkRules, scale: Scale, data_dir: Path) -> dict[str, np.ndarray]:
    """The weights beside the data, after their content hash matched the rules'."""
    assert rules.inference is not None
    path = weights_path(data_dir, rules.workload)
    fix = f"delete {path} and run `accelbench data generate {rules.workload} --scale {scale}`"
    if not path.is_file():
        raise UserError(f"{path}: no trained weights beside the data; {fix}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            weights = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: not a readable weights archive ({err}); {fix}") from None
    expected = rules.inference.weights.sha256[scale]
    got = weights_sha256(weights)
    if expected != "unrecorded" and got != expected:
        raise UserError(f"{path}: weights content SHA-256 {got} differs from the rules' {expected}; {fix}")
    return weights
