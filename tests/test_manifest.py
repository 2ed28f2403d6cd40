"""The dataset manifest: content hashes that see every number and nothing else, and a strict record."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelbench.data.manifest import (
    ContentHasher,
    Manifest,
    SplitDigest,
    check_split_digests,
    content_sha256,
    file_sha256,
    manifest_path,
    read_manifest,
    write_manifest,
)
from accelbench.errors import UserError

ARRAYS = [("a_frames", np.arange(24, dtype="<f4").reshape(2, 3, 4)), ("a_par", np.ones((2, 5), dtype="<f4"))]


def manifest(**changes) -> Manifest:
    fields = dict(
        workload="demo",
        file="demo.h5",
        file_sha256="1" * 64,
        splits={
            "train": SplitDigest(samples=2, sha256="2" * 64),
            "val": SplitDigest(samples=1, sha256="3" * 64),
        },
        seed=7,
        parameters={"dt_ms": 0.025, "time_bins": 1600},
        generator_version="1.0",
        device="cpu",
        created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    )
    return Manifest(**{**fields, **changes})


def one_line_user_error(call, *args) -> str:
    with pytest.raises(UserError) as error:
        call(*args)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_content_hash_sees_names_dtypes_shapes_and_values():
    reference = content_sha256(ARRAYS)
    (name, frames), par = ARRAYS
    variants = [
        [("b_frames", frames), par],
        [(name, frames.astype("<f8")), par],
        [(name, frames.reshape(2, 4, 3)), par],
        [(name, frames + np.float32(1e-6)), par],
        [par, (name, frames)],
    ]
    assert content_sha256(ARRAYS) == reference
    assert len({reference, *(content_sha256(v) for v in variants)}) == len(variants) + 1


def test_content_hash_ignores_memory_layout():
    (name, frames), par = ARRAYS
    fortran = np.asfortranarray(frames)
    assert content_sha256([(name, fortran), par]) == content_sha256(ARRAYS)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10), max_size=4))
def test_streaming_in_row_blocks_gives_the_same_digest(cuts):
    rows = np.random.default_rng(0).normal(size=(10, 3)).astype("<f4")
    hasher = ContentHasher()
    hasher.begin("x", rows.dtype, rows.shape)
    edges = [0, *sorted(cuts), 10]
    for start, stop in zip(edges, edges[1:]):
        hasher.update(rows[start:stop])
    assert hasher.hexdigest() == content_sha256([("x", rows)])


def test_hasher_refuses_blocks_that_do_not_fit_the_declaration():
    hasher = ContentHasher()
    hasher.begin("x", np.dtype("<f4"), (2, 2))
    with pytest.raises(ValueError):
        hasher.update(np.zeros((2, 2), dtype="<f8"))
    hasher.update(np.zeros((1, 2), dtype="<f4"))
    with pytest.raises(ValueError):
        hasher.hexdigest()
    with pytest.raises(ValueError):
        hasher.update(np.zeros((2, 2), dtype="<f4"))


def test_file_sha256_is_the_plain_digest_of_the_bytes(tmp_path):
    path = tmp_path / "blob"
    payload = bytes(range(256)) * 5000
    path.write_bytes(payload)
    assert file_sha256(path, block_bytes=4096) == hashlib.sha256(payload).hexdigest()


def test_write_then_read_round_trips_and_leaves_no_partial_file(tmp_path):
    record = manifest()
    assert write_manifest(tmp_path, record) == manifest_path(tmp_path)
    assert read_manifest(tmp_path) == record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_missing_malformed_and_unknown_fields_are_one_line_errors(tmp_path):
    assert "regenerate it" in one_line_user_error(read_manifest, tmp_path, "regenerate it")
    path = manifest_path(tmp_path)
    path.write_text("{not json")
    assert "malformed" in one_line_user_error(read_manifest, tmp_path)
    path.write_text(json.dumps({**json.loads(manifest().model_dump_json()), "extra": 1}))
    assert "extra" in one_line_user_error(read_manifest, tmp_path)
    path.write_text(json.dumps({**json.loads(manifest().model_dump_json()), "file_sha256": "xyz"}))
    assert "file_sha256" in one_line_user_error(read_manifest, tmp_path)


def test_check_split_digests_compares_with_manifest_and_expected(tmp_path):
    record, data_file = manifest(), tmp_path / "demo.h5"
    good = {"train": "2" * 64}
    check_split_digests(record, data_file, good, {"train": "2" * 64, "val": None}, "fix it")
    message = one_line_user_error(check_split_digests, record, data_file, {"train": "9" * 64}, None, "fix it")
    assert "'train'" in message and "9" * 64 in message and "2" * 64 in message and message.endswith("fix it")
    # a split not read now is compared through the manifest's record of it
    message = one_line_user_error(check_split_digests, record, data_file, good, {"val": "4" * 64}, "fix it")
    assert "'val'" in message and "4" * 64 in message and "3" * 64 in message
    message = one_line_user_error(check_split_digests, record, data_file, good, {"test": "5" * 64}, "fix")
    assert "'test'" in message
