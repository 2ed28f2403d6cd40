"""Signing: canonical JSON, the signature block, and every way verification must say no."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from accelbench.errors import UserError
from accelbench.trust.signing import (
    ALGORITHM,
    SignatureBlock,
    SignatureError,
    canonical_json,
    key_id,
    sign_document,
    verify_document,
)

JSON_INT = 2**53 - 1
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-JSON_INT, JSON_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)


def json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[object]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=25,
    )


documents = st.dictionaries(st.text(max_size=8), json_values(st.text(max_size=8)), max_size=6)
unsigned_documents = documents.filter(lambda doc: "signature" not in doc)
identifier_documents = st.dictionaries(identifiers, json_values(identifiers), max_size=5)


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def shuffled(value: object, rng: random.Random) -> object:
    """The same JSON value with every object's keys in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


# --- canonical JSON ---------------------------------------------------------------------------


def test_canonical_json_follows_rfc8785() -> None:
    doc = {"b": 1, "a": [1.0, 1e21, 1e-7, -0.0, "é\n"], "\u20ac": True, "z": None}
    assert canonical_json(doc) == '{"a":[1,1e+21,1e-7,0,"é\\n"],"b":1,"z":null,"€":true}'.encode()


def test_canonical_json_accepts_tuples_and_any_mapping() -> None:
    from types import MappingProxyType

    assert canonical_json(MappingProxyType({"x": (1, 2)})) == b'{"x":[1,2]}'


@settings(deadline=None)
@given(doc=documents, rng=st.randoms(use_true_random=False))
def test_canonical_json_is_deterministic_and_key_order_independent(
    doc: dict, rng: random.Random
) -> None:
    first = canonical_json(doc)
    assert canonical_json(copy.deepcopy(doc)) == first
    assert canonical_json(shuffled(doc, rng)) == first
    # Same numbers as doubles (canonical form may spell a large float as an integer).
    assert json.loads(first, parse_int=float) == json.loads(json.dumps(doc), parse_int=float)


def test_nan_is_refused_with_its_path() -> None:
    with pytest.raises(UserError) as err:
        canonical_json({"quality": {"target": 0.1, "achieved": math.nan}})
    assert one_line(err) == "$.quality.achieved is NaN: JSON has no NaN; record null with a reason"


def test_odd_keys_are_quoted_in_the_path() -> None:
    with pytest.raises(UserError) as err:
        canonical_json({"power trace": [1.0, -math.inf]})
    assert one_line(err).startswith('$["power trace"][1] is -Infinity: JSON has no Infinity')


@settings(deadline=None)
@given(
    doc=identifier_documents,
    data=st.data(),
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
)
def test_non_finite_numbers_anywhere_are_refused_with_their_path(
    doc: dict, data: st.DataObject, bad: float
) -> None:
    node: object = doc
    path = "$"
    while True:  # walk down at random, then plant the bad number
        if isinstance(node, dict):
            nested = [k for k, v in node.items() if isinstance(v, (dict, list))]
            if nested and data.draw(st.booleans()):
                name = data.draw(st.sampled_from(nested))
                node, path = node[name], f"{path}.{name}"
                continue
            name = data.draw(identifiers)
            node[name] = bad
            path = f"{path}.{name}"
            break
        assert isinstance(node, list)
        nested_at = [i for i, v in enumerate(node) if isinstance(v, (dict, list))]
        if nested_at and data.draw(st.booleans()):
            index = data.draw(st.sampled_from(nested_at))
            node, path = node[index], f"{path}[{index}]"
            continue
        node.append(bad)
        path = f"{path}[{len(node) - 1}]"
        break
    with pytest.raises(UserError) as err:
        canonical_json(doc)
    word = "NaN" if math.isnan(bad) else ("Infinity" if bad > 0 else "-Infinity")
    assert one_line(err).startswith(f"{path} is {word}: JSON has no ")


@pytest.mark.parametrize(
    ("doc", "start"),
    [
        ({"n": 2**53}, "$.n is 9007199254740992, beyond"),
        ({"n": [-(2**60)]}, "$.n[0] is -1152921504606846976, beyond"),
        ({"m": {1: "x"}}, "$.m has the key 1 of type int"),
        ({"s": {1, 2}}, "$.s is a set"),
        ({"b": b"raw"}, "$.b is a bytes"),
        ({"t": "bad\ud800"}, "$.t holds a lone surrogate"),
    ],
)
def test_values_json_cannot_hold_are_refused_with_their_path(doc: dict, start: str) -> None:
    with pytest.raises(UserError) as err:
        canonical_json(doc)
    assert one_line(err).startswith(start)


# --- signing ------------------------------------------------------------------------------------


def test_key_id_is_sha256_prefix_of_raw_public_key(key: Ed25519PrivateKey) -> None:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key_id(key.public_key()) == hashlib.sha256(raw).hexdigest()[:16]


def test_sign_adds_a_block_and_leaves_the_input_alone(key: Ed25519PrivateKey) -> None:
    doc = {"workload": "neuron_inverter", "timing": {"run_s": 12.5}}
    before = copy.deepcopy(doc)
    signed = sign_document(doc, key)
    assert doc == before
    assert {k: v for k, v in signed.items() if k != "signature"} == doc
    block = SignatureBlock.model_validate(signed["signature"])
    assert block.algorithm == ALGORITHM
    assert block.key_id == key_id(key.public_key())
    assert len(base64.b64decode(block.public_key)) == 32
    key.public_key().verify(base64.b64decode(block.signature), canonical_json(doc))
    assert verify_document(signed) == block


def test_sign_refuses_an_already_signed_document(key: Ed25519PrivateKey) -> None:
    with pytest.raises(UserError) as err:
        sign_document(sign_document({"a": 1}, key), key)
    assert '"signature"' in one_line(err)


def test_sign_refuses_nan(key: Ed25519PrivateKey) -> None:
    with pytest.raises(UserError) as err:
        sign_document({"energy": {"joules": math.nan}}, key)
    assert one_line(err).startswith("$.energy.joules is NaN")


@settings(deadline=None)
@given(doc=unsigned_documents)
def test_sign_verify_round_trips(key: Ed25519PrivateKey, doc: dict) -> None:
    signed = sign_document(doc, key)
    assert verify_document(signed).key_id == key_id(key.public_key())
    # ... and through the JSON text a result file holds, with the keys in any order.
    reread = json.loads(json.dumps(signed, ensure_ascii=False))
    assert verify_document(shuffled(reread, random.Random(0))).key_id == key_id(key.public_key())


@settings(deadline=None)
@given(doc=unsigned_documents, extra=scalars)
def test_any_added_field_breaks_the_signature(key: Ed25519PrivateKey, doc: dict, extra) -> None:
    signed = sign_document(doc, key)
    signed["added after signing"] = extra
    with pytest.raises(SignatureError, match="content changed after signing"):
        verify_document(signed)


# --- verification failures --------------------------------------------------------------------


@pytest.fixture
def signed(key: Ed25519PrivateKey) -> dict:
    return sign_document({"workload": "snn_bptt", "quality": {"achieved": 0.91}}, key)


def with_block(signed: dict, **changes: object) -> dict:
    doc = copy.deepcopy(signed)
    doc["signature"].update(changes)
    return doc


def refused(doc: dict, match: str, trusted: list[str] | None = None) -> str:
    with pytest.raises(SignatureError) as err:
        verify_document(doc, trusted)
    message = one_line(err)
    assert match in message
    return message


def test_missing_block(signed: dict) -> None:
    refused({k: v for k, v in signed.items() if k != "signature"}, 'no "signature" field')


@pytest.mark.parametrize(
    ("block", "match"),
    [
        ("not an object", "signature is malformed"),
        ({"algorithm": "ed25519"}, "signature.key_id is malformed"),
        (None, "signature is malformed"),
    ],
)
def test_malformed_block(signed: dict, block: object, match: str) -> None:
    refused({**signed, "signature": block}, match)


def test_unknown_algorithm(signed: dict) -> None:
    refused(with_block(signed, algorithm="rsa"), "signature.algorithm is malformed")


def test_extra_field_in_block(signed: dict) -> None:
    refused(with_block(signed, comment="hi"), "signature.comment is malformed")


def test_non_string_in_block_is_not_coerced(signed: dict) -> None:
    refused(with_block(signed, key_id=1234), "signature.key_id is malformed")


def test_bad_base64(signed: dict) -> None:
    refused(with_block(signed, signature="not*base64"), "signature.signature is not valid base64")
    refused(with_block(signed, public_key="é"), "signature.public_key is not valid base64")


def test_wrong_lengths(signed: dict) -> None:
    short = base64.b64encode(bytes(31)).decode()
    refused(with_block(signed, public_key=short), "decodes to 31 bytes, not the 32")
    refused(with_block(signed, signature=short), "decodes to 31 bytes, not the 64")


def test_base64_with_spare_bits_set_is_refused(signed: dict) -> None:
    # 64 bytes leave 4 unused bits in the last base64 digit: a different digit decodes to the
    # same bytes, so without this check a changed byte of the file would still verify.
    text = signed["signature"]["signature"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    digit = alphabet[alphabet.index(text[-3]) ^ 1]
    twin = text[:-3] + digit + text[-2:]
    assert base64.b64decode(twin) == base64.b64decode(text)
    refused(with_block(signed, signature=twin), "not in canonical base64")


def test_key_id_must_match_public_key(signed: dict) -> None:
    other = key_id(Ed25519PrivateKey.generate().public_key())
    refused(with_block(signed, key_id=other), "does not match signature.public_key")


def test_swapped_public_key_is_refused(signed: dict) -> None:
    impostor = Ed25519PrivateKey.generate().public_key()
    raw = impostor.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    doc = with_block(signed, public_key=base64.b64encode(raw).decode(), key_id=key_id(impostor))
    refused(doc, "content changed after signing")


def test_changed_content(signed: dict) -> None:
    doc = copy.deepcopy(signed)
    doc["quality"]["achieved"] = 0.92
    refused(doc, "content changed after signing")


def test_key_id_newline_cannot_break_the_message(signed: dict) -> None:
    refused(with_block(signed, key_id="abc\ndef"), '"abc\\ndef" does not match')


def test_trust(key: Ed25519PrivateKey, signed: dict) -> None:
    mine = key_id(key.public_key())
    assert verify_document(signed, [mine]).key_id == mine
    assert verify_document(signed, {mine, "0123456789abcdef"}).key_id == mine
    message = refused(signed, "not among the trusted keys", trusted=["0123456789abcdef"])
    assert mine in message
    refused(signed, "none given", trusted=[])


def test_signature_error_is_a_user_error() -> None:
    assert issubclass(SignatureError, UserError)
