"""Ed25519 signatures over RFC 8785 canonical JSON.

A result is signed as canonical bytes, not as the file text, so the signature means "these
values", whatever the indentation of the file that carries them. The signature block rides in
the document itself under "signature" and carries its public key, so a file can be checked
alone; whether that key is trusted is a separate question (`trusted_key_ids`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Collection, Mapping
from typing import Literal

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ValidationError

from accelbench.errors import UserError

ALGORITHM = "ed25519"
SIGNATURE_FIELD = "signature"
_PUBLIC_KEY_BYTES = 32
_SIGNATURE_BYTES = 64
_JSON_INT_LIMIT = 2**53 - 1  # beyond this a JSON number no longer round-trips through a double
_RESTORE = "the file was altered after signing; use the original file or re-run the benchmark"


class SignatureBlock(BaseModel, extra="forbid", strict=True):
    """Who signed (the public key and its id) and the signature over the canonical document."""

    algorithm: Literal["ed25519"]
    key_id: str
    public_key: str  # base64 of the raw 32-byte key
    signature: str  # base64 of the 64-byte signature


class SignatureError(UserError):
    """A signature is missing, malformed, does not match the content, or is not trusted."""


def _child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"


def _plain(value: object, path: str) -> object:
    """A plain JSON copy of `value`, refusing (with its JSON path) anything RFC 8785 cannot hold."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > _JSON_INT_LIMIT:
            raise UserError(
                f"{path} is {value}, beyond the ±(2**53-1) that JSON numbers hold exactly: "
                "record it as a string"
            )
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise UserError(f"{path} is NaN: JSON has no NaN; record null with a reason")
        if math.isinf(value):
            name = "Infinity" if value > 0 else "-Infinity"
            raise UserError(f"{path} is {name}: JSON has no Infinity; record null with a reason")
        return float(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                f"{path} holds a lone surrogate, which is not Unicode text: remove it before signing"
            ) from None
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        copy = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise UserError(
                    f"{path} has the key {key!r} of type {type(key).__name__}: "
                    "JSON object keys are strings; convert it with str()"
                )
            child = _child_path(path, key)
            copy[_plain(key, child)] = _plain(item, child)
        return copy
    raise UserError(
        f"{path} is a {type(value).__name__}: JSON holds only null, booleans, numbers, strings, "
        "lists and objects; convert it before signing"
    )


def canonical_json(doc: Mapping[str, object]) -> bytes:
    """The RFC 8785 bytes of `doc`: the same values give the same bytes, whatever the key order."""
    return rfc8785.dumps(_plain(doc, "$"))


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a key: the first 16 hex digits of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_document(doc: Mapping[str, object], key: Ed25519PrivateKey) -> dict:
    """A copy of `doc` with a "signature" block over the canonical JSON of `doc`."""
    if SIGNATURE_FIELD in doc:
        raise UserError(
            'the document to sign already has a "signature" field: '
            "sign the unsigned document (signatures do not nest)"
        )
    public = key.public_key()
    raw_public = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    block = SignatureBlock(
        algorithm=ALGORITHM,
        key_id=key_id(public),
        public_key=base64.b64encode(raw_public).decode("ascii"),
        signature=base64.b64encode(key.sign(canonical_json(doc))).decode("ascii"),
    )
    return {**doc, SIGNATURE_FIELD: block.model_dump()}


def _decode(field: str, text: str, length: int) -> bytes:
    """Strict base64: the text must be the one encoding of `length` bytes, so no byte is free."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"signature.{field} is not valid base64: {_RESTORE}") from None
    if len(raw) != length:
        raise SignatureError(
            f"signature.{field} decodes to {len(raw)} bytes, not the {length} of an Ed25519 "
            f"{field.replace('_', ' ')}: {_RESTORE}"
        )
    if base64.b64encode(raw).decode("ascii") != text:
        raise SignatureError(f"signature.{field} is not in canonical base64: {_RESTORE}")
    return raw


def _parse_block(doc: Mapping[str, object]) -> SignatureBlock:
    if SIGNATURE_FIELD not in doc:
        raise SignatureError(
            'no "signature" field: the document is unsigned; use the signed file that accelbench wrote'
        )
    try:
        return SignatureBlock.model_validate(doc[SIGNATURE_FIELD])
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in ("signature", *first["loc"]))
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise SignatureError(f"{where} is malformed: {first['msg']}{more}; {_RESTORE}") from None


def verify_document(
    doc: Mapping[str, object], trusted_key_ids: Collection[str] | None = None
) -> SignatureBlock:
    """Check the "signature" block of `doc` against its content; return the block if it holds.

    `trusted_key_ids` None accepts any key that verifies (the file is self-consistent);
    otherwise the signer's key id must be one of them.
    """
    block = _parse_block(doc)
    raw_public = _decode("public_key", block.public_key, _PUBLIC_KEY_BYTES)
    raw_signature = _decode("signature", block.signature, _SIGNATURE_BYTES)
    public = Ed25519PublicKey.from_public_bytes(raw_public)
    if key_id(public) != block.key_id:
        raise SignatureError(
            f"signature.key_id {json.dumps(block.key_id)} does not match signature.public_key "
            f"(whose id is {key_id(public)}): {_RESTORE}"
        )
    body = {name: value for name, value in doc.items() if name != SIGNATURE_FIELD}
    try:
        public.verify(raw_signature, canonical_json(body))
    except InvalidSignature:
        raise SignatureError(
            f"signature does not match the content (key {block.key_id}): "
            "content changed after signing; use the original file or re-run the benchmark"
        ) from None
    if trusted_key_ids is not None and block.key_id not in trusted_key_ids:
        raise SignatureError(
            f"signed by key {block.key_id}, which is not among the trusted keys "
            f"({', '.join(sorted(trusted_key_ids)) or 'none given'}): "
            "add its id to the trusted keys only if you trust whoever holds it"
        )
    return block
