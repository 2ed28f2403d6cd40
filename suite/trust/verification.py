"""`accelbench verify RESULT.json`: is this result file, and the event log it names, exactly
what was signed? Checked from the files alone.

The signature covers the values (canonical JSON), so three more checks make "any changed byte
fails" true of the files themselves: the JSON is parsed strictly (no duplicate keys, no NaN),
the file text must be byte for byte the layout accelbench writes (so whitespace or number
spelling cannot change unnoticed), and the event log's SHA-256, which the signature covers,
must match the log beside the result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from pydantic import ValidationError

from accelbench.errors import UserError
from accelbench.results.files import render_result
from accelbench.results.models import (
    SignedBenchmarkScore,
    SignedInferenceRunResult,
    SignedSamplingRunResult,
    SignedTrainingRunResult,
)
from accelbench.rules.loader import describe_validation_error
from accelbench.trust.signing import SignatureBlock, SignatureError, verify_document

MAX_RESULT_BYTES = 64 * 2**20
_RESTORE = "use the original file or re-run the benchmark"


@dataclass(frozen=True)
class VerifiedResult:
    """What held: the result file, the id of the key that signed it, the log it vouches for."""

    path: Path
    key_id: str
    event_log: Path


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_RESULT_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"result file {path} does not exist: check the path") from None
    except OSError as err:
        raise UserError(f"result file {path} cannot be read ({err.strerror}): check the path") from None
    if len(data) > MAX_RESULT_BYTES:
        raise UserError(
            f"result file {path} is over {MAX_RESULT_BYTES} bytes, far larger than any result: "
            "pass a run_N.json written by accelbench"
        )
    return data


def refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj: dict[str, object] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {json.dumps(key)}")
        obj[key] = value
    return obj


def refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _parse(path: Path, data: bytes) -> dict[str, object]:
    """Strict JSON: one reading only, so the verified values are the values anyone else reads."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"result file {path} is not UTF-8 text (bad byte at offset {err.start}): {_RESTORE}"
        ) from None
    try:
        doc = json.loads(
            text, object_pairs_hook=refuse_duplicates, parse_constant=refuse_constant
        )
    except json.JSONDecodeError as err:
        raise UserError(
            f"result file {path} is not valid JSON ({err.msg} at line {err.lineno} column "
            f"{err.colno}): {_RESTORE}"
        ) from None
    except ValueError as err:
        raise UserError(f"result file {path} is not valid JSON ({err}): {_RESTORE}") from None
    except RecursionError:
        raise UserError(f"result file {path} is nested too deeply to be a result: {_RESTORE}") from None
    if not isinstance(doc, dict):
        raise UserError(
            f"result file {path} holds a JSON {type(doc).__name__}, not an object: "
            "pass a run_N.json written by accelbench"
        )
    return doc


def _check_layout(path: Path, data: bytes, doc: dict[str, object]) -> None:
    expected = render_result(doc)
    if data != expected:
        offset = next(
            (i for i, (a, b) in enumerate(zip(data, expected)) if a != b),
            min(len(data), len(expected)),
        )
        raise SignatureError(
            f"result file {path} differs from the layout accelbench writes at byte {offset} "
            f"(formatting changed after signing): {_RESTORE}"
        )


def _event_log_reference(path: Path, doc: dict[str, object]) -> tuple[str, str]:
    ref = doc.get("event_log")
    name = ref.get("file") if isinstance(ref, dict) else None
    digest = ref.get("sha256") if isinstance(ref, dict) else None
    if not isinstance(name, str) or not isinstance(digest, str):
        raise UserError(
            f'result file {path}: field "event_log" must be an object with string "file" and '
            '"sha256": pass a run result written by accelbench'
        )
    return name, digest


def _locate_log(path: Path, name: str, what: str = "event log") -> Path:
    """The file `name` inside the result's directory; nothing a result names may lead outside."""
    directory = path.parent
    shown = json.dumps(name)
    # Windows rules are the stricter superset: they treat both slashes as separators.
    windows = PureWindowsPath(name)
    if not name or "\0" in name or windows.anchor or ".." in windows.parts:
        raise UserError(
            f"result file {path}: {what} {shown} is not a plain name inside the result's "
            f"directory: {_RESTORE}"
        )
    log = directory / name
    if not log.exists() and not log.is_symlink():
        raise UserError(
            f"{what} {log} named by {path} is missing: keep it beside {path.name} "
            "(it is part of the signed record)"
        )
    try:
        inside = log.resolve().is_relative_to(directory.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        inside = False
    if not inside:
        raise UserError(
            f"{what} {log} named by {path} is a link that leaves the result's directory: "
            f"put the {what} itself beside {path.name}"
        )
    if not log.is_file():
        raise UserError(
            f"{what} {log} named by {path} is missing (not a regular file): keep it "
            f"beside {path.name} (it is part of the signed record)"
        )
    return log


def _sha256_file(log: Path) -> str:
    digest = hashlib.sha256()
    try:
        with log.open("rb") as handle:
            for chunk in iter(lambda: handle.read(2**20), b""):
                digest.update(chunk)
    except OSError as err:
        raise UserError(f"{log} cannot be read ({err.strerror}): check its permissions") from None
    return digest.hexdigest()


def verify_result_file(
    path: Path, trusted_key_ids: Collection[str] | None = None
) -> VerifiedResult:
    """Verify a signed run result and its event log; raise a one-line UserError otherwise."""
    block, doc = _verify_signature_and_layout(path, trusted_key_ids)
    return VerifiedResult(path=path, key_id=block.key_id, event_log=_check_event_log(path, doc))


def _check_event_log(path: Path, doc: dict[str, object]) -> Path:
    """The event log beside `path`, after checking it against the hash the result recorded."""
    name, expected = _event_log_reference(path, doc)
    log = _locate_log(path, name)
    if _sha256_file(log) != expected.lower():
        raise UserError(
            f"event log {log} does not match the sha256 recorded in {path} "
            f"(log changed after signing): {_RESTORE}"
        )
    return log


@dataclass(frozen=True)
class VerifiedFile:
    """A verified run result or score: the document read from the very bytes that verified,
    with a one-line account of what was checked."""

    path: Path
    key_id: str
    detail: str
    document: SignedTrainingRunResult | SignedInferenceRunResult | SignedSamplingRunResult | SignedBenchmarkScore


def verify_file(path: Path, trusted_key_ids: Collection[str] | None = None) -> VerifiedFile:
    """Verify a run_N.json (signature, layout, event log, LoadGen logs or draws file, schema) or a score.json
    (signature, layout, schema, and the bytes of every run file it scores)."""
    block, doc = _verify_signature_and_layout(path, trusted_key_ids)
    if doc.get("kind") == "inference":
        inference = _validate(SignedInferenceRunResult, path, doc)
        files = inference.inference.files()
        for logged in files:
            log = _locate_log(path, logged.file, what="LoadGen log")
            if _sha256_file(log) != logged.sha256:
                raise UserError(
                    f"LoadGen log {log} does not match the sha256 recorded in {path} "
                    f"(changed after signing): {_RESTORE}"
                )
        verdict = "valid" if inference.inference.valid else "not valid"
        return VerifiedFile(path, block.key_id, (
            f"{inference.workload} {inference.scale} run {inference.run_index} ({verdict}); "
            f"{len(files)} LoadGen files match"
        ), inference)
    if doc.get("kind") == "sampling":
        sampling = _validate(SignedSamplingRunResult, path, doc)
        for name, digest in sampling.files():
            beside = _locate_log(path, name, what="sampling file")
            if _sha256_file(beside) != digest:
                raise UserError(f"sampling file {beside} does not match the sha256 recorded in {path} "
                                f"(changed after signing): {_RESTORE}")
        verdict = "converged" if sampling.quality.converged else "not converged"
        return VerifiedFile(path, block.key_id, (
            f"{sampling.workload} {sampling.scale} run {sampling.run_index} ({verdict}); "
            f"draws {sampling.draws.file} and held-out split {sampling.heldout.file} match"
        ), sampling)
    if "event_log" in doc:
        log = _check_event_log(path, doc)
        result = _validate(SignedTrainingRunResult, path, doc)
        verdict = "converged" if result.quality.converged else "not converged"
        return VerifiedFile(path, block.key_id, (
            f"{result.workload} {result.scale} run {result.run_index} ({verdict}); "
            f"event log {log.name} matches"
        ), result)
    score = _validate(SignedBenchmarkScore, path, doc)
    for run in score.runs:
        run_file = _locate_log(path, run.file, what="run file")
        if _sha256_file(run_file) != run.sha256:
            raise UserError(
                f"run file {run_file} does not match the sha256 recorded in {path} "
                f"(changed after scoring): {_RESTORE}"
            )
    return VerifiedFile(path, block.key_id, (
        f"score of {score.workload} {score.scale}: {len(score.runs)} run files match"
    ), score)


def _verify_signature_and_layout(
    path: Path, trusted_key_ids: Collection[str] | None
) -> tuple[SignatureBlock, dict[str, object]]:
    """Read the file once; return its signature block and the very document that was verified."""
    data = _read_bytes(path)
    doc = _parse(path, data)
    try:
        block = verify_document(doc, trusted_key_ids)
    except UserError as err:
        raise type(err)(f"result file {path}: {err}") from None
    _check_layout(path, data, doc)
    return block, doc


def _validate(model, path: Path, doc: dict[str, object]):
    try:
        return model.model_validate(doc)
    except ValidationError as err:
        raise UserError(f"result file {path}: {describe_validation_error(err)}") from None
