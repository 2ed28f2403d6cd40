"""Datasets from the suite's side: where they live, and generate/verify/load driven by the rules.

Each workload family's `accelbench.reference.<family>.data` module does the real work with one interface:
`generate(data_dir, split_sizes, seed, *, device, progress, overwrite, **parameters)`,
`verify(data_dir, expected_sha256)`, `load(data_dir, splits, expected_sha256)` and, for the
shards of a multi-process run, `load_rows(data_dir, split, rows, inputs=...)` after `verify`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import platformdirs

from accelbench.errors import UserError
from accelbench.rules.schema import BenchmarkRules, Scale

if TYPE_CHECKING:
    import torch


def data_directory(rules: BenchmarkRules, scale: Scale, override: Path | None = None) -> Path:
    """`override`, else $ACCELBENCH_DATA_DIR, else the user's cache dir; then <family>/<scale>
    (the variants of a workload family share one dataset)."""
    root = override or os.environ.get("ACCELBENCH_DATA_DIR") or platformdirs.user_cache_dir("accelbench")
    return Path(root) / rules.family / scale


def dataset_id(rules: BenchmarkRules, scale: Scale) -> str:
    """How results name the dataset they trained on, e.g. 'neuron_inverter/small'."""
    return f"{rules.family}/{scale}"


def data_module(rules: BenchmarkRules) -> ModuleType:
    return importlib.import_module(f"accelbench.reference.{rules.family}.data")


def expected_checksums(rules: BenchmarkRules, scale: Scale) -> dict[str, str | None]:
    """The rule file's content hash per split; None where it is not recorded yet."""
    recorded = rules.dataset.sha256[scale]
    return {split: None if digest == "unrecorded" else digest for split, digest in recorded.items()}


def generate(
    rules: BenchmarkRules,
    scale: Scale,
    data_dir: Path,
    *,
    device: str = "cpu",
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    weights_progress: Callable[[int, int], None] | None = None,
):
    """Generate the dataset of `scale` exactly as the rules define it; for an inference workload,
    then train the weights it serves by the rules' recipe (`accelbench.data.model_weights`)."""
    manifest = data_module(rules).generate(
        data_dir,
        rules.dataset.splits[scale],
        rules.dataset.seed,
        device=device,
        progress=progress,
        overwrite=overwrite,
        **rules.dataset.parameters_for(scale),
    )
    train_missing_weights(rules, scale, data_dir, weights_progress)
    return manifest


def train_missing_weights(rules: BenchmarkRules, scale: Scale, data_dir: Path,
                          progress: Callable[[int, int], None] | None = None) -> bool:
    """Train an inference workload's served weights if they are not beside its data yet (a sibling
    workload of the family may have generated the data); True if it trained them."""
    if rules.inference is None:
        return False
    from accelbench.data.model_weights import train_weights, weights_path

    if weights_path(data_dir, rules.workload).is_file():
        return False
    train_weights(rules, scale, data_dir, progress=progress)
    return True


def verify(rules: BenchmarkRules, scale: Scale, data_dir: Path):
    return data_module(rules).verify(data_dir, expected_checksums(rules, scale))


def load(rules: BenchmarkRules, scale: Scale, data_dir: Path, splits: tuple[str, ...]):
    """Read the splits into memory, checking every byte against the manifest and the rules."""
    return data_module(rules).load(data_dir, splits, expected_checksums(rules, scale))


def load_rows(rules: BenchmarkRules, data_dir: Path, split: str, rows: slice, *, inputs: bool = True):
    """One shard of a split, read without hashing: only after `verify` passed in this run."""
    return data_module(rules).load_rows(data_dir, split, rows, inputs=inputs)


def is_generated(data_dir: Path) -> bool:
    """Anything there already? Then it is verified, never silently generated over."""
    return data_dir.is_dir() and any(data_dir.iterdir())


def generation_device(device: str | torch.device, where: str) -> torch.device:
    """The torch device a data generator was asked to compute on, or a one-line error naming
    `where` (the generator) and the fix."""
    import torch  # here, not above: the validator imports this module and must start fast

    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"{where}: device {device!r} is not a torch device; pass 'cpu' or 'cuda'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"{where}: device {str(device)!r} but torch sees no CUDA GPU here; pass 'cpu'")
    return device
