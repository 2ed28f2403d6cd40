"""The efficientnet family's fractal images: every class an iterated function system that contracts
and fills the image, samples that vary by rendering (not by class colour), bytes that depend only
on the seed and the parameters, and one-line errors for bad parameters."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelbench.errors import UserError
from accelbench.reference.efficientnet import data

PARAMETERS = {"resolution": 32, "classes": 6, "max_maps": 4, "points": 1500, "variation": 0.1, "min_fill": 0.1}


def generate(directory, seed=5, sizes=None, **changes):
    return data.generate(directory, sizes or {"train": 120, "val": 36}, seed, **{**PARAMETERS, **changes})


def test_the_images_are_deterministic_balanced_and_channels_first(tmp_path):
    first, second = generate(tmp_path / "a"), generate(tmp_path / "b")
    assert first.splits == second.splits
    assert generate(tmp_path / "c", seed=6).splits["train"].sha256 != first.splits["train"].sha256
    train = data.load(tmp_path / "a")["train"]
    assert train.inputs.shape == (120, 3, 32, 32) and train.inputs.dtype == np.uint8
    assert np.array_equal(np.bincount(train.targets), [20] * 6)
    lit = (train.inputs.max(axis=1) > 0).mean(axis=(1, 2))
    assert lit.min() > 0.05 and train.inputs.reshape(120, -1).max(axis=1).min() > 100  # every image shows its fractal


def test_every_class_system_contracts_and_passed_the_fill_filter():
    fractals = data.fractal_classes(5, **PARAMETERS)
    norms = np.linalg.norm(fractals.matrices, ord=2, axis=(-2, -1))
    assert norms.max() <= data.CONTRACTION + 1e-12
    assert np.allclose(fractals.probabilities.sum(axis=1), 1.0) and (fractals.draws >= 1).all()
    for c in range(fractals.classes):
        used = fractals.probabilities[c] > 0
        _, points = data.chaos_game(fractals.matrices[c][None, used], fractals.offsets[c][None, used],
                                    fractals.probabilities[c][None, used], data.FILL_CHECK_POINTS,
                                    np.random.default_rng(0))
        assert data.fill_fraction(points, data.FILL_CHECK_PIXELS)[0] >= PARAMETERS["min_fill"] * 0.8


def test_classes_differ_in_shape_and_samples_of_a_class_differ_in_rendering(tmp_path):
    generate(tmp_path, sizes={"train": 240})
    train = data.load(tmp_path, ("train",))["train"]
    shapes = (train.inputs.max(axis=1) > 0).astype(np.float64)  # where light falls, whatever its colour
    centroids = np.stack([shapes[train.targets == c].mean(axis=0) for c in range(6)])
    within = np.mean([np.abs(shapes[i] - centroids[train.targets[i]]).mean() for i in range(len(shapes))])
    between = np.mean([np.abs(centroids[a] - centroids[b]).mean() for a in range(6) for b in range(a + 1, 6)])
    assert between > 0.02 and within > 0.02  # classes apart, samples not copies of each other
    assert not np.array_equal(train.inputs[train.targets == 0][0], train.inputs[train.targets == 0][1])
    colour = train.inputs.reshape(len(train.inputs), 3, -1).sum(axis=2)
    colour = colour / colour.sum(axis=1, keepdims=True)
    per_class = np.stack([colour[train.targets == c].mean(axis=0) for c in range(6)])
    assert np.abs(per_class - colour.mean(axis=0)).max() < 0.06  # colour is drawn per sample, not per class


def test_the_meta_records_every_class_system(tmp_path):
    generate(tmp_path)
    meta = json.loads(h5py.File(tmp_path / "efficientnet.data.h5")["meta.JSON"][()])
    assert np.array_equal(np.array(meta["classes"]["matrices"]), data.fractal_classes(5, **PARAMETERS).matrices)
    assert meta["parameters"] == PARAMETERS


@pytest.mark.parametrize(("change", "fragment"), [
    ({"resolution": 4}, "resolution=4; give an integer >= 8"),
    ({"variation": 1.5}, "variation=1.5; give a number in [0, 1)"),
    ({"classes": True}, "classes=True; give an integer >= 2"),
])
def test_bad_parameters_are_one_line(tmp_path, change, fragment):
    with pytest.raises(UserError) as err:
        generate(tmp_path, **change)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_a_fill_no_system_can_reach_is_one_line():
    with pytest.raises(UserError, match="found no system filling 0.99 of the pixels"):
        data.fractal_classes(5, **{**PARAMETERS, "classes": 2, "min_fill": 0.99})


@settings(max_examples=30, deadline=None)
@given(resolution=st.integers(8, 96), seed=st.integers(0, 1000), scale=st.floats(1e-6, 1e6))
def test_every_point_lands_inside_the_image(resolution, seed, scale):
    points = np.random.default_rng(seed).standard_normal((3, 50, 2)) * scale
    rows, columns = data.pixel_indices(points, resolution)
    assert rows.min() >= 0 and columns.min() >= 0 and max(rows.max(), columns.max()) <= resolution - 1
