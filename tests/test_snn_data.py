"""The snn_bptt dataset: layout on disk, Randman-style rasters, reproducible bytes, refusal of corrupt data."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelbench.data.manifest import content_sha256, read_manifest
from accelbench.errors import UserError
from accelbench.reference.snn_bptt import data

SIZES = {"train": 1030, "val": 6, "test": 9}  # train spans two 1024-sample blocks
PARAMS = dict(
    classes=3, channels=13, steps=20, manifold_dim=1, frequencies=3, smoothness=1.0, jitter_steps=1.0,
    noise_rate=0.01,
)
CLEAN = {**PARAMS, "jitter_steps": 0.0, "noise_rate": 0.0}


def one_line_user_error(call, *args, **kwargs) -> str:
    with pytest.raises(UserError) as error:
        call(*args, **kwargs)
    message = str(error.value)
    assert "\n" not in message
    return message


def digests(manifest) -> dict[str, str]:
    return {split: entry.sha256 for split, entry in manifest.splits.items()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A tiny dataset, generated once; tests that damage it work on a copy."""
    directory = tmp_path_factory.mktemp("snn") / "smoke"
    seen = []
    manifest = data.generate(directory, SIZES, 5, progress=lambda *counts: seen.append(counts), **PARAMS)
    return directory, manifest, seen


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """No jitter and no noise: one spike per channel, exactly where the manifold puts it."""
    directory = tmp_path_factory.mktemp("snn") / "clean"
    data.generate(directory, {"train": 60, "val": 7}, 11, **CLEAN)
    return directory


@pytest.fixture
def copy(dataset, tmp_path):
    directory = tmp_path / "smoke"
    shutil.copytree(dataset[0], directory)
    return directory


def test_file_has_the_documented_names_shapes_dtypes_and_meta(dataset):
    directory, manifest, _ = dataset
    assert data.data_file(directory).name == "snn_bptt.data.h5" == manifest.file
    assert data.array_names("val") == ("val_spikes", "val_labels", "val_coordinates")
    with h5py.File(data.data_file(directory), "r") as h5f:
        assert set(h5f) == {name for split in SIZES for name in data.array_names(split)} | {"meta.JSON"}
        for split, n in SIZES.items():
            spikes, labels, points = (h5f[name] for name in data.array_names(split))
            assert spikes.shape == (n, 20, 2) and spikes.dtype == np.uint8  # ceil(13 / 8) bytes per step
            assert labels.shape == (n,) and labels.dtype == np.int64
            assert points.shape == (n, 1) and points.dtype == np.float32
            assert 0.0 <= points[()].min() and points[()].max() <= 1.0
        meta = json.loads(h5f["meta.JSON"][()])
    assert meta["workload"] == "snn_bptt" and meta["generator_version"] == "1.0" and meta["seed"] == 5
    assert meta["parameters"] == PARAMS and "bitorder='little'" in meta["packing"]
    assert set(meta["arrays"]) == {"{split}_spikes", "{split}_labels", "{split}_coordinates"}
    assert manifest.workload == "snn_bptt" and manifest.generator_version == "1.0"
    assert manifest.parameters == PARAMS and manifest.device == "cpu"
    assert {s: e.samples for s, e in manifest.splits.items()} == SIZES


def test_loaded_splits_are_unpacked_arrays(dataset):
    directory, _, _ = dataset
    loaded = data.load(directory, data.SPLITS)
    for split, n in SIZES.items():
        got = loaded[split]
        assert got.inputs.shape == (n, 20, 13) and got.inputs.dtype == np.uint8
        assert got.targets.shape == (n,) and got.targets.dtype == np.int64
        assert got.coordinates.shape == (n, 1) and got.coordinates.dtype == np.float32
        assert set(np.unique(got.inputs).tolist()) <= {0, 1}
        assert (got.inputs.sum(axis=1) >= 1).all()  # every channel fires at least its manifold spike
    with h5py.File(data.data_file(directory), "r") as h5f:
        packed = h5f["val_spikes"][()]
    assert np.array_equal(np.packbits(loaded["val"].inputs, axis=-1, bitorder="little"), packed)


def test_progress_counts_every_sample(dataset):
    _, _, seen = dataset
    total = sum(SIZES.values())
    assert seen[-1] == (total, total) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[0] == (1024, total)  # one call per block of 1024


def test_unpack_inverts_little_endian_packbits():
    bits = np.array([[1, 0, 0, 0, 0, 0, 0, 1, 1, 1]], dtype=np.uint8)
    packed = np.packbits(bits, axis=-1, bitorder="little")
    assert packed.tolist() == [[0b10000001, 0b11]]
    assert np.array_equal(data.unpack(packed, 10), bits)
    assert "uint8 of shape (..., 2)" in one_line_user_error(data.unpack, packed[:, :1], 10)
    assert "channels=0" in one_line_user_error(data.unpack, packed, 0)


@settings(max_examples=60, deadline=None)
@given(
    channels=st.integers(1, 70),
    lead=st.lists(st.integers(0, 4), min_size=0, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_unpack_round_trips_random_rasters(channels, lead, seed):
    bits = np.random.default_rng(seed).integers(0, 2, size=(*lead, channels), dtype=np.uint8)
    packed = np.packbits(bits, axis=-1, bitorder="little")
    assert packed.shape == (*lead, math.ceil(channels / 8)) == (*lead, data.packed_width(channels))
    unpacked = data.unpack(packed, channels)
    assert unpacked.dtype == np.uint8 and np.array_equal(unpacked, bits)


def test_without_jitter_or_noise_each_channel_fires_once_where_the_manifold_says(clean):
    split = data.load(clean, ("train",))["train"]
    assert (split.inputs.sum(axis=1) == 1).all()
    times = split.inputs.argmax(axis=1)  # (n, channels) step of each channel's one spike
    p = CLEAN
    labels, points = data.labels_and_points(60, 11, "train", p["classes"], p["manifold_dim"])
    assert np.array_equal(split.targets, labels)
    assert np.array_equal(split.coordinates, points.astype(np.float32))
    manifolds = data.draw_manifolds(11, 3, 13, 1, 3, 1.0)
    # The reference points as documented: the first draw of the (seed, "manifolds") generator.
    key = hashlib.sha256(b"snn_bptt:11:manifolds").digest()
    generator = torch.Generator().manual_seed(int.from_bytes(key[:8], "little") >> 1)
    reference = torch.rand(4096, 1, generator=generator, dtype=torch.float64).numpy()
    amplitude = torch.rand(3, 13, 1, 3, generator=generator, dtype=torch.float64)  # a comes next
    assert np.array_equal(amplitude.numpy(), manifolds.amplitude)

    def direct(c: int, x: np.ndarray) -> np.ndarray:  # the formula, literally: (len(x), channels)
        k = np.arange(1, 4)
        terms = manifolds.amplitude[c] * np.sin(2 * np.pi * k * x[:, None, :, None] + manifolds.phase[c])
        return (terms / k**1.0).sum(axis=(2, 3))

    for c in range(3):
        reference_values = direct(c, reference)
        np.testing.assert_allclose(manifolds.low[c], reference_values.min(axis=0), rtol=0, atol=1e-12)
        np.testing.assert_allclose(manifolds.high[c], reference_values.max(axis=0), rtol=0, atol=1e-12)
    for i in (0, 1, 17, 59):
        c = int(labels[i])
        scaled = (direct(c, points[i : i + 1])[0] - manifolds.low[c]) / (manifolds.high[c] - manifolds.low[c])
        expected = np.rint(np.clip(scaled, 0, 1) * (CLEAN["steps"] - 1)).astype(int)
        assert np.array_equal(times[i], expected)


def test_noise_adds_spikes_at_its_rate(tmp_path):
    noisy = {**CLEAN, "noise_rate": 0.05, "channels": 40, "steps": 50}
    data.generate(tmp_path, {"train": 300}, 3, **noisy)
    spikes = data.load(tmp_path, ("train",))["train"].inputs.astype(np.float64)
    extra = spikes.sum(axis=1) - 1  # beyond the one manifold spike per channel
    rate = extra.mean().item() / (noisy["steps"] - 1)  # the manifold's own cell cannot add one
    assert 0.045 < rate < 0.055 and (extra >= 0).all()


def test_jitter_moves_spikes_off_the_manifold(clean, tmp_path):
    data.generate(tmp_path, {"train": 60}, 11, **{**CLEAN, "jitter_steps": 2.0})
    jittered = data.load(tmp_path, ("train",))["train"]
    plain = data.load(clean, ("train",))["train"]
    assert np.array_equal(jittered.targets, plain.targets)
    assert np.array_equal(jittered.coordinates, plain.coordinates)
    assert (jittered.inputs.sum(axis=1) == 1).all()
    shift = jittered.inputs.argmax(axis=1).astype(np.float64) - plain.inputs.argmax(axis=1)
    assert 1.0 < shift.std() < 3.0


def test_labels_are_balanced(dataset):
    directory, _, _ = dataset
    for split, n in SIZES.items():
        labels = data.load_rows(directory, split, slice(None), inputs=False).targets
        counts = np.bincount(labels, minlength=3)
        assert counts.tolist() == [n // 3 + (c < n % 3) for c in range(3)]
    train = data.load_rows(directory, "train", slice(None), inputs=False).targets
    assert not np.array_equal(train, np.arange(SIZES["train"]) % 3)  # shuffled


def test_same_seed_same_bytes_other_seed_differs(dataset, tmp_path):
    _, manifest, _ = dataset
    again = data.generate(tmp_path / "again", SIZES, 5, **PARAMS)
    other = data.generate(tmp_path / "other", SIZES, 6, **PARAMS)
    assert digests(again) == digests(manifest) and again.file_sha256 == manifest.file_sha256
    assert all(other.splits[s].sha256 != manifest.splits[s].sha256 for s in SIZES)


def test_split_bytes_do_not_depend_on_the_other_splits(dataset, tmp_path):
    _, manifest, _ = dataset
    alone = data.generate(tmp_path / "alone", {"train": 1, "val": 6}, 5, **PARAMS)
    assert alone.splits["val"].sha256 == manifest.splits["val"].sha256
    assert alone.splits["train"].sha256 != manifest.splits["train"].sha256  # its size is part of its bytes


def test_int_where_float_expected_gives_the_same_data(tmp_path):
    ints = data.generate(tmp_path / "ints", {"train": 5}, 2, **{**CLEAN, "smoothness": 1, "jitter_steps": 0})
    floats = data.generate(tmp_path / "floats", {"train": 5}, 2, **CLEAN)
    assert digests(ints) == digests(floats) and ints.parameters == floats.parameters
    assert isinstance(read_manifest(tmp_path / "ints").parameters["smoothness"], float)


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_bytes_do_not_depend_on_the_device(dataset, tmp_path, device):
    """The generator computes on the CPU whatever device it is given (cuda is accepted where torch
    sees a GPU), so the device never changes the bytes."""
    _, manifest, _ = dataset
    elsewhere = data.generate(tmp_path, SIZES, 5, device=device, **PARAMS)
    assert digests(elsewhere) == digests(manifest) and elsewhere.device == "cpu"


def test_verify_and_load_accept_intact_data(dataset):
    directory, manifest, _ = dataset
    expected = digests(manifest)
    assert data.verify(directory, expected) == manifest
    loaded = data.load(directory, ("train", "val"), {**expected, "test": None})
    assert set(loaded) == {"train", "val"}
    with h5py.File(data.data_file(directory), "r") as h5f:
        arrays = [h5f[name][()] for name in data.array_names("test")]
    assert content_sha256(zip(data.array_names("test"), arrays)) == expected["test"]


def test_load_rows_reads_the_asked_rows(dataset):
    directory, _, _ = dataset
    whole = data.load(directory, ("train",))["train"]
    rows = data.load_rows(directory, "train", slice(1000, 1030))
    assert np.array_equal(rows.inputs, whole.inputs[1000:1030])
    assert np.array_equal(rows.targets, whole.targets[1000:1030])
    assert np.array_equal(rows.coordinates, whole.coordinates[1000:1030])
    bare = data.load_rows(directory, "train", slice(5, 9), inputs=False)
    assert bare.inputs.shape == (4, 0, 13) and bare.inputs.dtype == np.uint8
    assert np.array_equal(bare.targets, whole.targets[5:9])
    assert np.array_equal(bare.coordinates, whole.coordinates[5:9])
    assert "'holdout'" in one_line_user_error(data.load_rows, directory, "holdout", slice(0, 1))


def test_corrupt_data_region_is_refused_by_verify_and_load(copy):
    path = data.data_file(copy)
    with h5py.File(path, "r") as h5f:
        offset = h5f["val_spikes"].id.get_offset() + 7
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x10]))
    for call in (data.verify, data.load):
        message = one_line_user_error(call, copy)
        assert "corrupt" in message and str(path) in message
        assert f"delete {copy}" in message and "accelbench data generate snn_bptt --scale smoke" in message


def test_missing_data_file_is_refused(copy):
    data.data_file(copy).unlink()
    assert "data file missing" in one_line_user_error(data.verify, copy)


def test_manifest_disagreeing_with_content_is_refused_naming_the_split(copy):
    record = json.loads((copy / "manifest.json").read_text())
    record["splits"]["val"]["sha256"] = "f" * 64
    (copy / "manifest.json").write_text(json.dumps(record))
    for call in (data.verify, data.load):
        message = one_line_user_error(call, copy, data.SPLITS)
        assert "'val'" in message and "f" * 64 in message and "manifest records" in message


def test_expected_checksum_mismatch_is_refused_naming_split_expected_and_got(dataset):
    directory, manifest, _ = dataset
    wrong = "0" * 64
    for call in (data.verify, data.load):
        expected = {"train": None, "val": wrong, "test": None}
        message = one_line_user_error(call, directory, expected_sha256=expected)
        assert "'val'" in message and wrong in message and manifest.splits["val"].sha256 in message
        assert "delete" in message and "accelbench data generate snn_bptt --scale smoke" in message


def test_missing_or_malformed_or_foreign_manifest_is_refused(copy, tmp_path):
    message = one_line_user_error(data.load, tmp_path / "nowhere")
    assert "manifest" in message and "accelbench data generate snn_bptt --scale" in message
    message = one_line_user_error(data.load_rows, tmp_path / "nowhere", "train", slice(0, 1))
    assert "manifest" in message
    record = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**record, "workload": "neuron_inverter"}))
    assert "'workload'" in one_line_user_error(data.verify, copy)
    (copy / "manifest.json").write_text('{"workload": "snn_bptt", "surprise": 1')
    assert "malformed" in one_line_user_error(data.verify, copy)
    (copy / "manifest.json").unlink()
    assert "no dataset manifest" in one_line_user_error(data.load, copy)


def test_second_generate_is_refused_unless_overwrite(copy):
    message = one_line_user_error(data.generate, copy, SIZES, 5, **PARAMS)
    assert "already exists" in message and "overwrite" in message
    manifest = data.generate(copy, {"train": 4}, 9, overwrite=True, **PARAMS)
    assert set(manifest.splits) == {"train"} and data.verify(copy) == manifest
    assert not data.data_file(copy).with_name("snn_bptt.data.h5.partial").exists()


@pytest.mark.parametrize(
    "sizes, settings, named",
    [
        ({"train": 2, "holdout": 1}, {}, "'holdout'"),
        ({"train": 0, "val": 1}, {}, "train >= 1"),
        ({"train": 2.5}, {}, "'train'"),
        ({"train": -1}, {}, "'train'"),
        ({"train": 2}, {"device": "abacus"}, "device"),
        ({"train": 2}, {"seed": -3}, "seed"),
    ],
)
def test_bad_sizes_device_or_seed_are_one_line_user_errors(tmp_path, sizes, settings, named):
    seed = settings.pop("seed", 1)
    message = one_line_user_error(data.generate, tmp_path, sizes, seed, **{**PARAMS, **settings})
    assert "reference/snn_bptt/data.py: generate()" in message and named in message
    assert not data.data_file(tmp_path).exists()


_INT_LOWS = {"classes": 2, "channels": 1, "steps": 2, "manifold_dim": 1, "frequencies": 1}
_NOT_NUMBERS = st.sampled_from([True, False, None, "3", [2]])


@st.composite
def _bad_parameter(draw):
    name = draw(st.sampled_from(sorted(PARAMS)))
    if name in _INT_LOWS:
        value = draw(st.one_of(
            st.integers(max_value=_INT_LOWS[name] - 1), st.floats(allow_nan=True), _NOT_NUMBERS
        ))
    else:
        low_or_not_finite = st.one_of(
            st.floats(max_value=-1e-12), st.integers(max_value=-1),
            st.sampled_from([math.nan, math.inf, -math.inf]), _NOT_NUMBERS,
        )
        if name == "noise_rate":
            low_or_not_finite = st.one_of(low_or_not_finite, st.floats(min_value=1.0), st.integers(min_value=1))
        value = draw(low_or_not_finite)
    return name, value


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=_bad_parameter())
def test_every_bad_parameter_is_a_one_line_user_error_naming_it(bad):
    name, value = bad
    with tempfile.TemporaryDirectory() as tmp:
        message = one_line_user_error(data.generate, Path(tmp), {"train": 2}, 1, **{**PARAMS, name: value})
        assert message.startswith("reference/snn_bptt/data.py: generate(): ") and f"{name}=" in message
        assert "give" in message
        assert not any(Path(tmp).iterdir())


@settings(max_examples=12, deadline=None)
@given(
    classes=st.integers(2, 5), channels=st.integers(1, 20), steps=st.integers(2, 12),
    manifold_dim=st.integers(1, 3), frequencies=st.integers(1, 3), smoothness=st.floats(0, 3),
    jitter_steps=st.one_of(st.just(0), st.floats(0, 3)), noise_rate=st.floats(0, 0.5, exclude_max=True),
    train=st.integers(1, 9),
)
def test_any_valid_parameters_give_a_consistent_dataset(
    classes, channels, steps, manifold_dim, frequencies, smoothness, jitter_steps, noise_rate, train
):
    params = dict(
        classes=classes, channels=channels, steps=steps, manifold_dim=manifold_dim, frequencies=frequencies,
        smoothness=smoothness, jitter_steps=jitter_steps, noise_rate=noise_rate,
    )
    with tempfile.TemporaryDirectory() as tmp:
        manifest = data.generate(Path(tmp), {"train": train, "test": 0}, 4, **params)
        split = data.load(Path(tmp), ("train", "test"))
    assert manifest.splits["test"].samples == 0 and split["test"].inputs.shape == (0, steps, channels)
    spikes = split["train"].inputs
    assert spikes.shape == (train, steps, channels) and (spikes.sum(axis=1) >= 1).all()
    assert split["train"].targets.min() >= 0 and split["train"].targets.max() < classes


def test_nearest_class_mean_on_spike_times_beats_chance_clearly(tmp_path):
    """Classes differ: at the smoke scale's settings, the mean first-spike time of each channel tells them
    apart on held-out samples (about 0.6 against a chance of 0.2; the classes are curved manifolds, so a
    linear read-out of class means is far from what a trained network reaches)."""
    classes = 5
    smoke = dict(
        classes=classes, channels=32, steps=40, manifold_dim=1, frequencies=4, smoothness=1.0, jitter_steps=1.0,
        noise_rate=0.002,
    )
    data.generate(tmp_path, {"train": 500, "val": 250}, 21, **smoke)
    loaded = {s: (torch.from_numpy(split.inputs), torch.from_numpy(split.targets))
              for s, split in data.load(tmp_path, ("train", "val")).items()}
    first = {s: inputs.argmax(dim=1).double() for s, (inputs, _) in loaded.items()}  # (n, channels) first spike step
    means = torch.stack([first["train"][loaded["train"][1] == c].mean(dim=0) for c in range(classes)])
    predicted = torch.cdist(first["val"], means).argmin(dim=1)
    accuracy = (predicted == loaded["val"][1]).double().mean().item()
    assert accuracy > 2 / classes
