"""The neuron_inverter dataset: original layout, reproducible bytes, and refusal of anything corrupt."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import torch

from accelbench.data.manifest import read_manifest
from accelbench.errors import UserError
from accelbench.reference.neuron_inverter import cell, data

SIZES = {"train": 6, "val": 3, "test": 3}
SHORT = dict(time_bins=40, normalization_samples=4, chunk_size=4)  # 5 ms traces: every property but spiking


def one_line_user_error(call, *args, **kwargs) -> str:
    with pytest.raises(UserError) as error:
        call(*args, **kwargs)
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A tiny dataset, generated once; tests that damage it work on a copy."""
    directory = tmp_path_factory.mktemp("neuron") / "smoke"
    seen = []
    manifest = data.generate(directory, SIZES, 5, progress=lambda *counts: seen.append(counts), **SHORT)
    return directory, manifest, seen


@pytest.fixture
def copy(dataset, tmp_path):
    directory = tmp_path / "smoke"
    shutil.copytree(dataset[0], directory)
    return directory


def test_file_has_the_original_names_shapes_and_meta(dataset):
    directory, manifest, _ = dataset
    assert data.data_file(directory).name == "neuron_inverter.data.h5" == manifest.file
    with h5py.File(data.data_file(directory), "r") as h5f:
        for dom, n in SIZES.items():  # read as the original loader does
            frames = h5f[dom + "_frames"][0:n]
            unit = h5f[dom + "_unitStar_par"][0:n]
            phys = h5f[dom + "_phys_par"][0:n]
            assert frames.shape == (n, 40, 4) and frames.dtype == np.float32
            assert unit.shape == phys.shape == (n, 15) and unit.dtype == phys.dtype == np.float32
        meta = json.loads(h5f["meta.JSON"][()])
    assert meta["parName"] == list(data.PARAMETER_NAMES) and meta["featureName"] == list(data.PROBE_NAMES)
    assert meta["samplingRate_Hz"] == 8000.0 and meta["numTimeBin"] == 40 and meta["seed"] == 5
    assert len(meta["normalization"]["mean_mV"]) == len(meta["normalization"]["std_mV"]) == 4
    assert "soma" in meta["stimulus"] and meta["parUnit"] == "S/cm^2"


def test_targets_in_unit_range_and_phys_follow_from_them(dataset):
    directory, _, _ = dataset
    for split in data.load(directory, data.SPLITS).values():
        assert np.abs(split.targets).max() <= 1.0
        expected = data.physical_parameters(torch.from_numpy(split.targets).double()).float()
        torch.testing.assert_close(torch.from_numpy(split.phys), expected, rtol=1e-5, atol=0)


def test_frames_are_z_scored_with_the_first_train_samples(dataset):
    directory, _, _ = dataset
    first = torch.from_numpy(data.load(directory, ("train",))["train"].inputs[: SHORT["normalization_samples"]]).double()
    flat = first.reshape(-1, 4)
    torch.testing.assert_close(flat.mean(dim=0), torch.zeros(4, dtype=torch.float64), atol=1e-5, rtol=0)
    root_mean_square = (flat**2).mean(dim=0).sqrt()
    torch.testing.assert_close(root_mean_square, torch.ones(4, dtype=torch.float64), atol=1e-4, rtol=0)


def test_progress_counts_every_sample(dataset):
    _, _, seen = dataset
    total = sum(SIZES.values())
    assert seen[-1] == (total, total) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_same_seed_same_bytes_whatever_the_chunks_and_other_seed_differs(dataset, tmp_path):
    _, manifest, _ = dataset
    again = data.generate(tmp_path / "again", SIZES, 5, **{**SHORT, "chunk_size": 5})
    other = data.generate(tmp_path / "other", SIZES, 6, **SHORT)
    digests = lambda m: {split: entry.sha256 for split, entry in m.splits.items()}  # noqa: E731
    assert digests(again) == digests(manifest)
    assert all(other.splits[s].sha256 != manifest.splits[s].sha256 for s in SIZES)


def test_split_bytes_do_not_depend_on_the_other_splits(dataset, tmp_path):
    _, manifest, _ = dataset
    alone = data.generate(tmp_path / "alone", {"train": 6, "test": 3}, 5, **SHORT)
    assert alone.splits["test"].sha256 == manifest.splits["test"].sha256


def test_verify_and_load_accept_intact_data(dataset):
    directory, manifest, _ = dataset
    expected = {split: entry.sha256 for split, entry in manifest.splits.items()}
    assert data.verify(directory, expected) == manifest
    loaded = data.load(directory, ("train", "val"), {**expected, "test": None})
    assert set(loaded) == {"train", "val"}
    assert loaded["train"].inputs.shape == (6, 40, 4) and loaded["train"].inputs.dtype == np.float32
    assert read_manifest(directory) == manifest


def test_corrupt_data_region_is_refused_by_verify_and_load(copy):
    path = data.data_file(copy)
    with h5py.File(path, "r") as h5f:
        offset = h5f["val_frames"].id.get_offset() + 101
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x10]))
    for call in (data.verify, data.load):
        message = one_line_user_error(call, copy)
        assert "corrupt" in message and str(path) in message
        assert "accelbench data generate neuron_inverter" in message


def test_expected_checksum_mismatch_is_refused_naming_split_expected_and_got(dataset):
    directory, manifest, _ = dataset
    wrong = "0" * 64
    for call in (data.verify, data.load):
        expected = {"train": None, "val": wrong, "test": None}
        message = one_line_user_error(call, directory, expected_sha256=expected)
        assert "'val'" in message and wrong in message and manifest.splits["val"].sha256 in message
        assert "delete" in message and "accelbench data generate neuron_inverter --scale smoke" in message


def test_manifest_disagreeing_with_content_is_refused(copy):
    record = json.loads((copy / "manifest.json").read_text())
    record["splits"]["train"]["sha256"] = "f" * 64
    (copy / "manifest.json").write_text(json.dumps(record))
    message = one_line_user_error(data.load, copy, ("train",))
    assert "'train'" in message and "f" * 64 in message


def test_missing_or_malformed_manifest_or_file_is_refused(copy, tmp_path):
    message = one_line_user_error(data.load, tmp_path / "nowhere")
    assert "manifest" in message and "accelbench data generate neuron_inverter --scale" in message
    (copy / "manifest.json").write_text('{"workload": "neuron_inverter", "surprise": 1')
    assert "malformed" in one_line_user_error(data.verify, copy)
    (copy / "manifest.json").write_text(json.dumps({"workload": "neuron_inverter", "surprise": 1}))
    assert "malformed" in one_line_user_error(data.verify, copy)


def test_second_generate_is_refused_unless_overwrite(copy):
    message = one_line_user_error(data.generate, copy, SIZES, 5, **SHORT)
    assert "already exists" in message and "overwrite" in message
    manifest = data.generate(copy, {"train": 4}, 9, overwrite=True, **SHORT)
    assert set(manifest.splits) == {"train"} and data.verify(copy) == manifest


@pytest.mark.parametrize(
    "sizes, settings",
    [
        ({"train": 2, "holdout": 1}, {}),
        ({"train": 0, "val": 1}, {}),
        ({"train": 2.5}, {}),
        ({"train": 2}, {"chunk_size": 0}),
        ({"train": 2}, {"normalization_samples": 0}),
        ({"train": 2}, {"device": "abacus"}),
        ({"train": 2}, {"dt_ms": 0.1}),
    ],
)
def test_bad_generate_arguments_are_one_line_user_errors(tmp_path, sizes, settings):
    message = one_line_user_error(data.generate, tmp_path, sizes, 1, **{**SHORT, **settings})
    assert ".py" in message
    assert not data.data_file(tmp_path).exists()


def test_full_length_traces_spike_in_the_stored_frames(tmp_path):
    """The real 1600 bins for a few samples: frames keep the spikes, meta lets one undo the z-score."""
    data.generate(tmp_path, {"train": 3}, 2, normalization_samples=3)
    split = data.load(tmp_path, ("train",))["train"]
    assert split.inputs.shape == (3, 1600, 4)
    with h5py.File(data.data_file(tmp_path), "r") as h5f:
        stats = json.loads(h5f["meta.JSON"][()])["normalization"]
    soma_mV = split.inputs[:, :, 0] * stats["std_mV"][0] + stats["mean_mV"][0]
    assert soma_mV.max() > 0.0 and np.isfinite(split.inputs).all()
    assert cell.PROBE_NAMES == data.PROBE_NAMES
