"""The checksum record beside every generated dataset: what was made, from what, and its SHA-256s.

Two digests per dataset. `file_sha256` covers the data file byte for byte and catches any
corruption on disk. Each split's `sha256` is a content hash (array names, dtypes, shapes and
C-order bytes), so it depends only on the numbers and not on how a storage library lays them
out: that is the digest the rule files record and every machine must reproduce.
The manifest is written after the data file, atomically, so its presence means the data are complete.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accelbench.errors import UserError

MANIFEST_NAME = "manifest.json"
_SHA256 = r"^[0-9a-f]{64}$"


class SplitDigest(BaseModel):
    """One split: its number of samples and the content hash of its arrays."""

    model_config = ConfigDict(extra="forbid")
    samples: int = Field(ge=0)
    sha256: str = Field(pattern=_SHA256)


class Manifest(BaseModel):
    """The record `manifest.json` holds for one generated dataset directory."""

    model_config = ConfigDict(extra="forbid")
    workload: str
    file: str = Field(description="data file name, relative to the manifest's directory")
    file_sha256: str = Field(pattern=_SHA256)
    splits: dict[str, SplitDigest]
    seed: int
    parameters: dict[str, float | int | str | bool] = Field(
        description="generator settings that change the bytes"
    )
    generator_version: str
    device: str = Field(description="torch device the data were computed on")
    created_at: datetime


def file_sha256(path: Path, block_bytes: int = 1 << 22) -> str:
    """SHA-256 of a file, read in blocks so that any size fits in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(block_bytes):
            digest.update(block)
    return digest.hexdigest()


class ContentHasher:
    """Content hash fed array by array, each possibly in slices along its first axis.

    For each array, in order: its name, dtype (numpy's `dtype.str`, e.g. '<f4') and shape, then
    its C-order bytes. Feeding a whole array or its consecutive row blocks gives the same digest.
    """

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._bytes_left = 0

    def begin(self, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        if self._bytes_left:
            raise ValueError(f"array before '{name}' is short of {self._bytes_left} bytes")
        dtype = np.dtype(dtype)
        header = json.dumps([name, dtype.str, [int(n) for n in shape]])
        self._digest.update(header.encode() + b"\n")
        self._bytes_left = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        self._dtype = dtype

    def update(self, block: np.ndarray) -> None:
        if block.dtype != self._dtype:
            raise ValueError(f"block of dtype {block.dtype} fed to an array declared {self._dtype}")
        data = np.ascontiguousarray(block).reshape(-1).view(np.uint8)
        if data.nbytes > self._bytes_left:
            raise ValueError("more bytes than the declared shape holds")
        self._digest.update(data)
        self._bytes_left -= data.nbytes

    def add(self, name: str, array: np.ndarray) -> None:
        self.begin(name, array.dtype, array.shape)
        self.update(array)

    def hexdigest(self) -> str:
        if self._bytes_left:
            raise ValueError(f"last array is short of {self._bytes_left} bytes")
        return self._digest.hexdigest()


def content_sha256(named_arrays: Iterable[tuple[str, np.ndarray]]) -> str:
    """Content hash of (name, array) pairs, in the given order."""
    hasher = ContentHasher()
    for name, array in named_arrays:
        hasher.add(name, np.asarray(array))
    return hasher.hexdigest()


def manifest_path(data_dir: Path) -> Path:
    return Path(data_dir) / MANIFEST_NAME


def write_manifest(data_dir: Path, manifest: Manifest) -> Path:
    """Write data_dir/manifest.json atomically: a reader sees the old file or the whole new one."""
    path = manifest_path(data_dir)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(manifest.model_dump_json(indent=2) + "\n")
    os.replace(partial, path)
    return path


def read_manifest(data_dir: Path, how_to_create: str = "generate the dataset again") -> Manifest:
    """The manifest of data_dir; a missing or malformed one is a one-line UserError ending in the fix."""
    path = manifest_path(data_dir)
    if not path.is_file():
        raise UserError(f"{path}: no dataset manifest (the data are missing or incomplete); {how_to_create}")
    try:
        return Manifest.model_validate_json(path.read_text())
    except (ValidationError, ValueError, UnicodeDecodeError) as error:
        problem = _first_problem(error)
        raise UserError(
            f"{path}: malformed dataset manifest ({problem}); delete {path.parent} and {how_to_create}"
        ) from None


def _first_problem(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        more = f", and {error.error_count() - 1} more" if error.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}"
    return " ".join(str(error).split())


def check_split_digests(
    manifest: Manifest,
    data_file: Path,
    computed: Mapping[str, str],
    expected: Mapping[str, str | None] | None,
    fix: str,
) -> None:
    """Refuse (one-line UserError) any split whose digest disagrees with the manifest or with `expected`.

    `computed` holds the hashes just taken from the data; `expected` (e.g. the rule file's) may
    have None entries, which mean "not recorded yet" and are skipped.
    """
    for split, got in computed.items():
        recorded = manifest.splits[split].sha256
        if got != recorded:
            raise UserError(
                f"{data_file}: split '{split}' content SHA-256 is {got}, the manifest records {recorded}; {fix}"
            )
    for split, wanted in (expected or {}).items():
        if wanted is None:
            continue
        if split not in manifest.splits:
            raise UserError(f"{data_file}: has no split '{split}' (the rules expect one); {fix}")
        got = computed.get(split, manifest.splits[split].sha256)
        if got != wanted:
            raise UserError(f"{data_file}: split '{split}' content SHA-256 is {got}, expected {wanted}; {fix}")
