"""Properties of the validator on hostile input: whatever bytes or values a submission holds,
it answers with findings (never an exception) within a time bound, and any change to a signed
file is an error even when the manifest's hashes are brought up to date around it."""

import datetime
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelbench.submission.layout import MANIFEST
from accelbench.validation.validator import validate_submission

from validation_cases import SET_DIR, SYSTEM_FILE, Tree, shared_submission

pytestmark = pytest.mark.integration

# The validator takes about 20 ms on this tree; 3 s per example (copy included) leaves room for
# a loaded shared machine and still fails a hang or a quadratic blow-up.
BOUNDED = settings(max_examples=25, deadline=datetime.timedelta(seconds=3),
                   suppress_health_check=[HealthCheck.too_slow])
SIGNED_FILES = [MANIFEST, f"{SET_DIR}/score.json", *(f"{SET_DIR}/run_{n}.json" for n in (1, 2, 3)),
                *(f"{SET_DIR}/run_{n}.mllog" for n in (1, 2, 3))]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def pristine(smoke_runs, tmp_path_factory):
    return shared_submission(smoke_runs, tmp_path_factory)


def validated(pristine, mutate):
    """Apply `mutate` to a fresh copy of the submission and validate it."""
    root, key = pristine
    with tempfile.TemporaryDirectory() as scratch:
        tree = Tree.copy(root, Path(scratch) / "submission", key)
        mutate(tree)
        report = validate_submission(tree.root)
    assert all(f.check != "validator.internal" for f in report.findings), report.findings
    return report


def leaves(doc, path=()):
    """Every path to a value inside a JSON document, except into its signature."""
    if isinstance(doc, dict):
        items = [(key, value) for key, value in doc.items() if key != "signature"]
    elif isinstance(doc, list):
        items = list(enumerate(doc))
    else:
        return [path]
    found = [path] if path else []
    for key, value in items:
        found.extend(leaves(value, (*path, key)))
    return found


@BOUNDED
@given(data=st.binary(max_size=4096))
def test_random_bytes_as_the_manifest(pristine, data):
    report = validated(pristine, lambda tree: tree.path(MANIFEST).write_bytes(data))
    assert not report.valid


@BOUNDED
@given(index=st.integers(min_value=0), data=st.binary(max_size=2048), reseal=st.booleans())
def test_random_bytes_in_place_of_any_file(pristine, index, data, reseal):
    def mutate(tree):
        files = [path for path in tree.regular_files() if path != MANIFEST]
        target = tree.path(files[index % len(files)])
        target.write_bytes(data if target.read_bytes() != data else data + b"\0")
        if reseal:
            tree.reseal_manifest()
    assert not validated(pristine, mutate).valid


@BOUNDED
@given(which=st.sampled_from(SIGNED_FILES), position=st.integers(min_value=0), flip=st.integers(1, 255))
def test_any_changed_byte_of_a_signed_file_is_an_error(pristine, which, position, flip):
    def mutate(tree):
        data = bytearray(tree.path(which).read_bytes())
        data[position % len(data)] ^= flip
        tree.path(which).write_bytes(bytes(data))
        if which != MANIFEST:
            tree.reseal_manifest()  # so only the file's own checks can notice
    report = validated(pristine, mutate)
    assert report.errors >= 1


@BOUNDED
@given(which=st.sampled_from([f"{SET_DIR}/run_1.json", f"{SET_DIR}/score.json", MANIFEST, SYSTEM_FILE]),
       choice=st.integers(min_value=0), value=JSON_VALUES)
def test_any_value_anywhere_re_signed_is_judged_not_crashed(pristine, which, choice, value):
    def mutate(tree):
        doc = tree.read(which)
        paths = leaves(doc)
        path = paths[choice % len(paths)]
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        if which == SYSTEM_FILE:
            tree.path(which).write_text(json.dumps(doc))
        else:
            tree.write_signed(which, doc)
        if which != MANIFEST:
            tree.reseal_manifest()
    validated(pristine, mutate)
