"""A generated dataset on disk as every workload stores it: `manifest.json` beside one HDF5 file
holding each split as named arrays. Writing, checking and reading that layout is the same for
every workload, so it is written once here; a workload's data module computes the arrays, names
them, and says what a split's arrays mean.

Every problem is a one-line UserError that names the file and ends in the fix (regenerate).
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from accelbench.data.manifest import (
    MANIFEST_NAME,
    ContentHasher,
    Manifest,
    SplitDigest,
    check_split_digests,
    content_sha256,
    file_sha256,
    read_manifest,
    write_manifest,
)
from accelbench.errors import UserError

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


def checked_sizes(split_sizes: Mapping[str, int], splits: Sequence[str], where: str, train_fix: str) -> dict[str, int]:
    """The rules' split sizes, or a one-line UserError naming `where` (the generator) and the fix."""
    unknown = [s for s in split_sizes if s not in splits]
    if unknown:
        raise UserError(f"{where}: unknown split {unknown[0]!r}; name splits among {', '.join(splits)}")
    for split, n in split_sizes.items():
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise UserError(f"{where}: split '{split}' has size {n!r}; give a whole number of samples >= 0")
    if split_sizes.get("train", 0) < 1:
        raise UserError(f"{where}: no train samples; {train_fix}")
    return {split: int(n) for split, n in split_sizes.items()}


class SplitWriter:
    """Writes a dataset in the layout `SplitStore` reads. The HDF5 file is written under a
    `.partial` name and renamed into place once complete, and only then is the manifest written,
    so no manifest ever describes a half-written file. Each split is one streamed array (the
    big one, written block by block) and whole arrays beside it, content-hashed in that order.

        with SplitWriter(data_dir, file_name, overwrite) as out:
            out.begin_split(name, shape, dtype); out.write_rows(start, block) ...; out.add_array(...)
            out.end_split(split, samples)
            out.write_meta({...})
        manifest = out.manifest(...)
    """

    def __init__(self, data_dir: Path, file_name: str, overwrite: bool) -> None:
        self.data_dir = Path(data_dir)
        self.target = self.data_dir / file_name
        if (self.target.exists() or (self.data_dir / MANIFEST_NAME).exists()) and not overwrite:
            raise UserError(
                f"{self.target}: dataset already exists; use it, or pass overwrite (--force) to generate it again"
            )
        self.partial = self.target.with_name(self.target.name + ".partial")
        self.digests: dict[str, SplitDigest] = {}

    def __enter__(self) -> SplitWriter:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / MANIFEST_NAME).unlink(missing_ok=True)
        self.h5 = h5py.File(self.partial, "w")
        return self

    def __exit__(self, error_type: object, *rest: object) -> None:
        self.h5.close()
        if error_type is None:
            os.replace(self.partial, self.target)

    def begin_split(self, name: str, shape: tuple[int, ...], dtype: str) -> None:
        """Start a split with its streamed array `name` of `shape`."""
        self._streamed = self.h5.create_dataset(name, shape, dtype=dtype, track_times=False)
        self._hasher = ContentHasher()
        self._hasher.begin(name, self._streamed.dtype, self._streamed.shape)

    def write_rows(self, start: int, block: np.ndarray) -> None:
        """Rows `start` onwards of the streamed array; blocks come in order."""
        self._streamed[start : start + len(block)] = block
        self._hasher.update(block)

    def add_array(self, name: str, array: np.ndarray) -> None:
        """A whole array of the split, after its streamed one."""
        self.h5.create_dataset(name, data=array, track_times=False)
        self._hasher.add(name, array)

    def end_split(self, split: str, samples: int) -> None:
        self.digests[split] = SplitDigest(samples=samples, sha256=self._hasher.hexdigest())

    def write_meta(self, meta: Mapping[str, object]) -> None:
        """The `meta.JSON` string: what a reader of the file alone needs."""
        self.h5.create_dataset("meta.JSON", data=json.dumps(meta), track_times=False)

    def manifest(self, workload: str, seed: int, parameters: Mapping[str, object], generator_version: str,
                 device: str) -> Manifest:
        """Write and return the manifest of the file now in place."""
        manifest = Manifest(
            workload=workload,
            file=self.target.name,
            file_sha256=file_sha256(self.target),
            splits=self.digests,
            seed=seed,
            parameters=dict(parameters),
            generator_version=generator_version,
            device=device,
            created_at=datetime.now(timezone.utc).replace(microsecond=0),
        )
        write_manifest(self.data_dir, manifest)
        return manifest

