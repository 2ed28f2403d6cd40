"""A generated dataset on disk as every workload stores it: `manifest.json` beside one HDF5 file
holding each split as named arrays. Checking and reading that layout is the same for every
workload, so it is written once here; a workload's data module names a split's arrays and
turns them into tensors.

Every problem is a one-line UserError that names the file and ends in the fix (regenerate).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from accelbench.errors import UserError
from accelbench.data.manifest import (
    ContentHasher,
    Manifest,
    check_split_digests,
    content_sha256,
    file_sha256,
    read_manifest,
)

_SCALES = ("smoke", "small", "full")
_READ_SAMPLES = 4096  # rows per read when a split is hashed as it streams


@dataclass(frozen=True)
class SplitStore:
    """The dataset of `workload` in `data_dir`; `array_names(split)` lists a split's arrays in
    content-hash order."""

    data_dir: Path
    workload: str
    array_names: Callable[[str], tuple[str, ...]]

    def fix(self, start_over: bool = False) -> str:
        """The command that repairs this directory, for the end of an error message."""
        scale = self.data_dir.name if self.data_dir.name in _SCALES else "S"
        command = f"run `accelbench data generate {self.workload} --scale {scale}`"
        return f"delete {self.data_dir} and {command}" if start_over else command

    def manifest(self) -> Manifest:
        """The manifest, which must be this workload's."""
        manifest = read_manifest(self.data_dir, self.fix())
        if manifest.workload != self.workload:
            raise UserError(
                f"{self.data_dir / 'manifest.json'}: field 'workload' is {manifest.workload!r}, not "
                f"{self.workload!r}; {self.fix(start_over=True)}"
            )
        return manifest

    def checked_file(self) -> tuple[Manifest, Path]:
        """The manifest and the data file it names, after the whole-file SHA-256 matched."""
        manifest = self.manifest()
        path = self.data_dir / manifest.file
        if not path.is_file():
            raise UserError(f"{path}: data file missing (the manifest is there); {self.fix(start_over=True)}")
        got = file_sha256(path)
        if got != manifest.file_sha256:
            raise UserError(
                f"{path}: corrupt data file (SHA-256 {got}, manifest records {manifest.file_sha256}); "
                f"{self.fix(start_over=True)}"
            )
        return manifest, path

    def open(self, path: Path) -> h5py.File:
        try:
            return h5py.File(path, "r")
        except OSError as error:
            reason = " ".join(str(error).split())
            raise UserError(f"{path}: not a readable HDF5 file ({reason}); {self.fix(start_over=True)}") from None

    def dataset(self, h5: h5py.File, path: Path, name: str) -> h5py.Dataset:
        if name not in h5:
            raise UserError(f"{path}: dataset '{name}' missing; {self.fix(start_over=True)}")
        return h5[name]

    def verify(self, expected_sha256: Mapping[str, str | None] | None = None) -> Manifest:
        """Check the whole file and every split's content, streaming; refuse any mismatch."""
        manifest, path = self.checked_file()
        computed = {}
        with self.open(path) as h5:
            for split in manifest.splits:
                hasher = ContentHasher()
                for name in self.array_names(split):
                    dataset = self.dataset(h5, path, name)
                    hasher.begin(name, dataset.dtype, dataset.shape)
                    for start in range(0, dataset.shape[0], _READ_SAMPLES):
                        hasher.update(dataset[start : start + _READ_SAMPLES])
                computed[split] = hasher.hexdigest()
        check_split_digests(manifest, path, computed, expected_sha256, self.fix(start_over=True))
        return manifest

    def read(
        self, splits: Sequence[str], expected_sha256: Mapping[str, str | None] | None = None
    ) -> tuple[Manifest, dict[str, list[np.ndarray]]]:
        """Each split's arrays read whole, once, and hashed as read; refuse any mismatch."""
        manifest, path = self.checked_file()
        unknown = [s for s in splits if s not in manifest.splits]
        if unknown:
            have = ", ".join(manifest.splits)
            raise UserError(f"{path}: no split {unknown[0]!r} (it has {have}); ask for one of those")
        arrays, computed = {}, {}
        with self.open(path) as h5:
            for split in splits:
                names = self.array_names(split)
                arrays[split] = [self.dataset(h5, path, name)[()] for name in names]
                computed[split] = content_sha256(zip(names, arrays[split]))
        check_split_digests(manifest, path, computed, expected_sha256, self.fix(start_over=True))
        return manifest, arrays

    def read_rows(self, split: str, rows: slice, names: Sequence[str]) -> tuple[Manifest, list[np.ndarray]]:
        """The `rows` of the named arrays of a split (a rank's shard), without hashing: only after
        `verify` passed in this run."""
        manifest = self.manifest()
        path = self.data_dir / manifest.file
        if split not in manifest.splits:
            raise UserError(f"{path}: no split {split!r}; ask for one of {', '.join(manifest.splits)}")
        with self.open(path) as h5:
            return manifest, [self.dataset(h5, path, name)[rows] for name in names]
