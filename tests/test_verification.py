"""`accelbench verify`: changing any byte of a signed result or of its event log must fail."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accelbench.errors import UserError
from accelbench.results.files import write_json_atomic
from accelbench.trust import verification
from accelbench.trust.signing import SignatureError, key_id, sign_document
from accelbench.trust.verification import VerifiedResult, render_result, verify_result_file

LOG_NAME = "run_0.log"
LOG_TEXT = "".join(
    f':::MLLOG {{"namespace": "", "time_ms": {1700000000000 + 37 * i}, "event_type": "POINT_IN_TIME", '
    f'"key": "eval_accuracy", "value": {0.5 + i / 100}, "metadata": {{"epoch_num": {i}}}}}\n'
    for i in range(4)
).encode()


def realistic_result(log: bytes = LOG_TEXT, log_name: str = LOG_NAME) -> dict:
    """A run result shaped like TrainingRunResult: nested objects, lists of floats, nulls, unicode."""
    return {
        "schema_version": "1",
        "suite_version": "0.1.0",
        "rules_version": "1.0",
        "workload": "neuron_inverter",
        "kind": "train",
        "scale": "smoke",
        "division": "closed",
        "run_index": 0,
        "seed": 1234,
        "created_at": "2024-05-01T12:00:00+00:00",
        "system": {"name": "Grace–Hopper µ-node", "device": "cpu", "implementation": "ref"},
        "environment": {
            "hostname_sha256": hashlib.sha256(b"node17").hexdigest(),
            "python": "3.10.12",
            "cpu_count": 16,
            "memory_bytes": 137438953472,
            "accelerators": ["NVIDIA H100 80GB HBM3"],
            "packages": {"torch": "2.0.1", "numpy": "1.24.4"},
            "suite_git_commit": None,
            "suite_git_dirty": False,
            "numerics_env": {},
        },
        "dataset": {
            "id": "neuron_inverter/smoke",
            "seed": 7,
            "splits": {"train": {"samples": 512, "sha256": "ab" * 32}},
        },
        "hyperparameters": {"lr": 0.001, "batch_size": 64, "amsgrad": True, "opt": "adamw"},
        "timing": {"init_s": 1.5, "run_s": 12.25, "epoch_s": [4.1, 4.05, 4.1000000000000005]},
        "quality": {
            "target": 0.02,
            "achieved": 0.0187,
            "converged": True,
            "curve": [
                {"epoch": 1, "value": None, "elapsed_s": 4.1},
                {"epoch": 2, "value": 0.0187, "elapsed_s": 8.15},
            ],
            "train_loss": [0.31, None, 1e-7, -0.0, 1e21],
        },
        "energy": {"available": False, "joules": None, "reason": "no power meter"},
        "event_log": {"file": log_name, "sha256": hashlib.sha256(log).hexdigest()},
    }


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def signed(key: Ed25519PrivateKey) -> dict:
    return sign_document(realistic_result(), key)


@pytest.fixture
def result_file(tmp_path: Path, signed: dict) -> Path:
    (tmp_path / LOG_NAME).write_bytes(LOG_TEXT)
    path = tmp_path / "run_0.json"
    path.write_bytes(render_result(signed))
    return path


def failure(path: Path, error: type[UserError] = UserError, trusted=None) -> str:
    with pytest.raises(error) as err:
        verify_result_file(path, trusted)
    message = str(err.value)
    assert "\n" not in message
    return message


def leaves(node: object, at: tuple = ()) -> Iterator[tuple[tuple, object]]:
    if isinstance(node, dict):
        for name, value in node.items():
            yield from leaves(value, (*at, name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, (*at, index))
    else:
        yield at, node


def containers(node: object, at: tuple = ()) -> Iterator[tuple[tuple, object]]:
    if isinstance(node, (dict, list)):
        yield at, node
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for name, value in items:
            yield from containers(value, (*at, name))


def find(doc: object, at: tuple) -> object:
    for step in at:
        doc = doc[step]  # type: ignore[index]
    return doc


def nearby(value: object) -> object:
    """The smallest change of a JSON leaf that keeps its type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return math.nextafter(value, math.inf)
    if isinstance(value, str):
        return value[:-1] + chr(ord(value[-1]) ^ 1) if value else " "
    assert value is None
    return False


# --- the untouched file ---------------------------------------------------------------------


def test_untouched_result_verifies(result_file: Path, key: Ed25519PrivateKey) -> None:
    verified = verify_result_file(result_file)
    assert verified == VerifiedResult(
        path=result_file, key_id=key_id(key.public_key()), event_log=result_file.parent / LOG_NAME
    )
    assert verify_result_file(result_file, [key_id(key.public_key())]) == verified


def test_the_store_writes_the_layout_verify_expects(tmp_path: Path, signed: dict) -> None:
    write_json_atomic(tmp_path / "run_0.json", signed)
    assert (tmp_path / "run_0.json").read_bytes() == render_result(signed)


def test_untrusted_signer(result_file: Path) -> None:
    assert "not among the trusted keys" in failure(result_file, SignatureError, ["00" * 8])


def test_unsigned_result(tmp_path: Path) -> None:
    path = tmp_path / "run_0.json"
    path.write_bytes(render_result(realistic_result()))
    message = failure(path, SignatureError)
    assert str(path) in message and 'no "signature" field' in message


# --- every field of the result ----------------------------------------------------------------


def test_changing_any_leaf_fails(result_file: Path, signed: dict) -> None:
    checked = 0
    for at, value in leaves(signed):
        for replacement in (nearby(value), None if value is not None else 0):
            doc = copy.deepcopy(signed)
            find(doc, at[:-1])[at[-1]] = replacement  # type: ignore[index]
            result_file.write_bytes(render_result(doc))
            message = failure(result_file, SignatureError)
            assert str(result_file) in message, at
            if at[0] != "signature":
                assert "content changed after signing" in message, at
            checked += 1
    assert checked == 2 * len(list(leaves(signed))) > 100


def test_removing_or_adding_any_field_fails(result_file: Path, signed: dict) -> None:
    for at, node in containers(signed):
        names = list(node) if isinstance(node, dict) else list(range(len(node)))
        for name in names:
            doc = copy.deepcopy(signed)
            del find(doc, at)[name]  # type: ignore[union-attr,arg-type]
            result_file.write_bytes(render_result(doc))
            failure(result_file, SignatureError)
        doc = copy.deepcopy(signed)
        target = find(doc, at)
        if isinstance(target, dict):
            target["added"] = None
        else:
            target.append(None)  # type: ignore[union-attr]
        result_file.write_bytes(render_result(doc))
        failure(result_file, SignatureError)


def test_reordering_a_list_fails(result_file: Path, signed: dict) -> None:
    doc = copy.deepcopy(signed)
    doc["timing"]["epoch_s"].reverse()
    result_file.write_bytes(render_result(doc))
    assert "content changed after signing" in failure(result_file, SignatureError)


# --- every byte of the result file ---------------------------------------------------------------


@pytest.mark.parametrize("mask", [0x01, 0x02, 0x20])
def test_flipping_any_byte_of_the_result_fails(result_file: Path, mask: int) -> None:
    original = result_file.read_bytes()
    outcomes = {"signature": 0, "parse": 0}
    for position in range(len(original)):
        tampered = bytearray(original)
        tampered[position] ^= mask
        result_file.write_bytes(bytes(tampered))
        with pytest.raises(UserError) as err:
            verify_result_file(result_file)
        message = str(err.value)
        assert "\n" not in message and str(result_file) in message, position
        outcomes["signature" if isinstance(err.value, SignatureError) else "parse"] += 1
    # Both kinds of failure happened: flips that still parse and flips that do not.
    assert outcomes["signature"] > 0 and outcomes["parse"] > 0, outcomes


def test_high_bit_flips_fail_cleanly(result_file: Path) -> None:
    original = result_file.read_bytes()
    for position in random.Random(8785).sample(range(len(original)), 300):
        tampered = bytearray(original)
        tampered[position] ^= 0x80
        result_file.write_bytes(bytes(tampered))
        failure(result_file)


def same_values_other_text(signed: dict) -> dict[str, bytes]:
    text = render_result(signed).decode()
    return {
        "indent 4": (json.dumps(signed, indent=4, ensure_ascii=False) + "\n").encode(),
        "compact": json.dumps(signed, ensure_ascii=False).encode(),
        "ascii escapes": (json.dumps(signed, indent=2) + "\n").encode(),
        "no final newline": text.rstrip("\n").encode(),
        "trailing space": (text + " ").encode(),
        "tab indent": text.replace('\n  "workload"', '\n\t"workload"').encode(),
        "number spelling": text.replace('"init_s": 1.5', '"init_s": 1.50').encode(),
        "exponent spelling": text.replace("1e-07", "1E-7").encode(),
        "key order": (json.dumps(dict(reversed(signed.items())), indent=2) + "\n").encode(),
        "escaped letter": text.replace('"workload": "neuron', '"workload": "\\u006eeuron').encode(),
    }


@pytest.mark.parametrize("variant", sorted(same_values_other_text({"a": 1})))
def test_same_values_in_other_text_fail(result_file: Path, signed: dict, variant: str) -> None:
    data = same_values_other_text(signed)[variant]
    assert data != render_result(signed)
    result_file.write_bytes(data)
    assert "formatting changed after signing" in failure(result_file, SignatureError)


# --- reading the file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'{"a": "\xff"}', "is not UTF-8 text"),
        (b'{"a": 1,}', "is not valid JSON"),
        (b"", "is not valid JSON"),
        (b'{"a": 1, "a": 2}', 'duplicate key "a"'),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b'{"a": [Infinity]}', "Infinity is not JSON"),
        (b'{"a": -Infinity}', "-Infinity is not JSON"),
        (b"[1, 2]", "holds a JSON list, not an object"),
        (b'"text"', "holds a JSON str, not an object"),
        (b"\xef\xbb\xbf{}", "is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_unreadable_json_is_a_clean_error(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "run_0.json"
    path.write_bytes(data)
    message = failure(path)
    assert str(path) in message and match in message


def test_huge_integer_is_a_clean_error(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "run_0.json"
    signed = sign_document({"a": 1}, key)
    path.write_bytes(render_result(signed).replace(b'"a": 1', b'"a": 123456789012345678901'))
    assert "beyond the" in failure(path)


def test_missing_result(tmp_path: Path) -> None:
    assert "does not exist" in failure(tmp_path / "run_9.json")


def test_directory_instead_of_result(tmp_path: Path) -> None:
    assert "cannot be read" in failure(tmp_path)


def test_oversized_result(result_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verification, "MAX_RESULT_BYTES", 1024)
    assert "is over 1024 bytes, far larger than any result" in failure(result_file)


# --- the event log ---------------------------------------------------------------------------------


def test_flipping_any_byte_of_the_log_fails(result_file: Path) -> None:
    log = result_file.parent / LOG_NAME
    for position in range(len(LOG_TEXT)):
        tampered = bytearray(LOG_TEXT)
        tampered[position] ^= 0x01
        log.write_bytes(bytes(tampered))
        message = failure(result_file)
        assert str(log) in message and "log changed after signing" in message, position


def test_flipping_sampled_bytes_of_a_large_log_fails(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    rng = random.Random(2024)
    big = rng.randbytes(1 << 20)
    log = tmp_path / LOG_NAME
    log.write_bytes(big)
    path = tmp_path / "run_0.json"
    path.write_bytes(render_result(sign_document(realistic_result(log=big), key)))
    verify_result_file(path)
    for position in [0, len(big) - 1, *rng.sample(range(len(big)), 100)]:
        tampered = bytearray(big)
        tampered[position] ^= rng.randrange(1, 256)
        log.write_bytes(bytes(tampered))
        assert "log changed after signing" in failure(path)


@pytest.mark.parametrize(
    "change",
    [lambda b: b[:-1], lambda b: b + b"\n", lambda b: b"", lambda b: b.replace(b"\n", b"\r\n")],
)
def test_truncated_or_extended_log_fails(result_file: Path, change) -> None:
    (result_file.parent / LOG_NAME).write_bytes(change(LOG_TEXT))
    assert "log changed after signing" in failure(result_file)


def test_missing_log(result_file: Path) -> None:
    log = result_file.parent / LOG_NAME
    log.unlink()
    message = failure(result_file)
    assert str(log) in message and "missing" in message


def test_log_that_is_a_directory(result_file: Path) -> None:
    log = result_file.parent / LOG_NAME
    log.unlink()
    log.mkdir()
    assert "missing" in failure(result_file)


def signed_with_log_name(tmp_path: Path, key: Ed25519PrivateKey, name: str) -> Path:
    path = tmp_path / "results" / "run_0.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(render_result(sign_document(realistic_result(log_name=name), key)))
    return path


@pytest.mark.parametrize(
    "name",
    ["", "/etc/passwd", "../run_0.log", "logs/../../run_0.log", "..\\run_0.log", "C:\\x.log", "a\0b"],
)
def test_log_names_that_leave_the_directory_are_refused(
    tmp_path: Path, key: Ed25519PrivateKey, name: str
) -> None:
    (tmp_path / LOG_NAME).write_bytes(LOG_TEXT)  # a matching log outside, to be ignored
    path = signed_with_log_name(tmp_path, key, name)
    assert "is not a plain name inside the result's directory" in failure(path)


def test_symlink_leaving_the_directory_is_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    outside = tmp_path / "elsewhere.log"
    outside.write_bytes(LOG_TEXT)
    path = signed_with_log_name(tmp_path, key, LOG_NAME)
    os.symlink(outside, path.parent / LOG_NAME)
    assert "link that leaves the result's directory" in failure(path)


def test_symlink_inside_the_directory_is_followed(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = signed_with_log_name(tmp_path, key, LOG_NAME)
    (path.parent / "logs").mkdir()
    (path.parent / "logs" / "real.log").write_bytes(LOG_TEXT)
    os.symlink(Path("logs") / "real.log", path.parent / LOG_NAME)
    assert verify_result_file(path).event_log == path.parent / LOG_NAME


def test_log_in_a_subdirectory(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = signed_with_log_name(tmp_path, key, "logs/run_0.log")
    (path.parent / "logs").mkdir()
    (path.parent / "logs" / "run_0.log").write_bytes(LOG_TEXT)
    assert verify_result_file(path).event_log == path.parent / "logs" / "run_0.log"


@pytest.mark.parametrize(
    "event_log", [None, "run_0.log", {"file": "run_0.log"}, {"file": 3, "sha256": "00"}]
)
def test_malformed_event_log_field(
    tmp_path: Path, key: Ed25519PrivateKey, event_log: object
) -> None:
    doc = realistic_result()
    if event_log is None:
        del doc["event_log"]
    else:
        doc["event_log"] = event_log
    path = tmp_path / "run_0.json"
    path.write_bytes(render_result(sign_document(doc, key)))
    assert 'field "event_log" must be an object' in failure(path)
