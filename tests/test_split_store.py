"""The shared on-disk layout of generated datasets: checks that every workload's data module relies on."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from accelbench.data.manifest import Manifest, SplitDigest, content_sha256, file_sha256, write_manifest
from accelbench.data.split_store import SplitStore
from accelbench.errors import UserError


def names(split: str) -> tuple[str, ...]:
    return (f"{split}_x", f"{split}_y")


def arrays(split: str) -> dict[str, np.ndarray]:
    rows = {"train": 5, "val": 3}[split]
    return {f"{split}_x": np.arange(rows * 2, dtype="<f4").reshape(rows, 2), f"{split}_y": np.arange(rows)}


@pytest.fixture
def directory(tmp_path):
    data_dir = tmp_path / "toy" / "smoke"
    data_dir.mkdir(parents=True)
    path = data_dir / "toy.h5"
    digests = {}
    with h5py.File(path, "w") as h5:
        for split in ("train", "val"):
            for name, array in arrays(split).items():
                h5.create_dataset(name, data=array)
            digests[split] = SplitDigest(samples=len(arrays(split)[f"{split}_y"]),
                                         sha256=content_sha256(arrays(split).items()))
    write_manifest(data_dir, Manifest(
        workload="toy", file=path.name, file_sha256=file_sha256(path), splits=digests, seed=1,
        parameters={}, generator_version="1", device="cpu", created_at="2026-11-24T00:00:00Z",
    ))
    return data_dir


def one_line(call, *args) -> str:
    with pytest.raises(UserError) as error:
        call(*args)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_reads_verifies_and_shards_what_it_wrote(directory):
    store = SplitStore(directory, "toy", names)
    manifest, read = store.read(["val"])
    assert np.array_equal(read["val"][0], arrays("val")["val_x"]) and store.verify() == manifest
    _, (y,) = store.read_rows("train", slice(1, 3), ["train_y"])
    assert y.tolist() == [1, 2]


def test_every_refusal_names_the_file_and_the_fix(directory):
    assert "field 'workload' is 'toy', not 'other'" in one_line(SplitStore(directory, "other", names).verify)
    store = SplitStore(directory, "toy", names)
    assert "no split 'test' (it has train, val)" in one_line(store.read, ["test"])
    assert "no split 'test'; ask for one of train, val" in one_line(store.read_rows, "test", slice(0, 1), ["test_y"])
    wrong = {"train": "0" * 64}
    assert "expected " + "0" * 64 in one_line(store.verify, wrong)
    (directory / "toy.h5").write_bytes(b"not hdf5")
    message = one_line(store.verify)
    assert "corrupt data file" in message and message.endswith(
        f"delete {directory} and run `accelbench data generate toy --scale smoke`")
    (directory / "toy.h5").unlink()
    assert "data file missing (the manifest is there)" in one_line(store.verify)
