"""The signed manifest (submission.json): its schema, its signature, and that the tree holds
exactly the files it lists with exactly the bytes it lists. After this, any change to any file
of the submission is an error, whatever else the file's own checks find."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from accelbench import __version__
from accelbench.errors import UserError
from accelbench.results.files import render_result
from accelbench.rules.loader import describe_validation_error
from accelbench.submission.layout import MANIFEST, SignedSubmissionManifest
from accelbench.trust.signing import verify_document
from accelbench.validation.files import SubmissionFiles
from accelbench.validation.findings import Findings
from accelbench.validation.signers import trusted_key_ids


@dataclass(frozen=True)
class CheckedManifest:
    manifest: SignedSubmissionManifest
    trusted: frozenset[str]


def check_manifest(files: SubmissionFiles, findings: Findings) -> CheckedManifest | None:
    """The manifest, if it parses; None stops validation, as nothing else can be located."""
    if not files.exists(MANIFEST):
        if MANIFEST not in files.flagged:
            findings.error("manifest.missing", MANIFEST,
                           "no submission.json: package the results with `accelbench package`")
        return None
    doc = files.read_json(MANIFEST)
    if doc is None:
        return None
    try:
        manifest = SignedSubmissionManifest.model_validate(doc)
    except ValidationError as err:
        findings.error("manifest.schema", MANIFEST, describe_validation_error(err))
        return None
    trusted = trusted_key_ids(files, manifest, findings)
    try:
        verify_document(doc, trusted)
    except UserError as err:
        findings.error("manifest.signature", MANIFEST, str(err))
    _check_layout(files.read_bytes(MANIFEST) or b"", doc, findings)
    if manifest.suite_version != __version__:
        findings.warning("manifest.suite_version", MANIFEST,
                         f"packaged by accelbench {manifest.suite_version}; this is accelbench {__version__}, "
                         "whose checks decide these verdicts")
    _check_listed_files(files, manifest, findings)
    return CheckedManifest(manifest, trusted)


def _check_layout(data: bytes, doc: dict, findings: Findings) -> None:
    """The signature covers values, so the bytes must also be exactly the layout the packer
    writes: otherwise whitespace or number spelling could change unnoticed."""
    expected = render_result(doc)
    if data != expected:
        offset = next((i for i, (a, b) in enumerate(zip(data, expected)) if a != b), min(len(data), len(expected)))
        findings.error("manifest.layout", MANIFEST, f"differs from the layout accelbench writes at byte {offset} "
                       "(formatting changed after signing)")


def _check_listed_files(files: SubmissionFiles, manifest: SignedSubmissionManifest, findings: Findings) -> None:
    for relative, expected in manifest.files.items():
        if relative == MANIFEST:
            findings.error("manifest.files", MANIFEST, "lists itself; it cannot hold its own hash")
        elif not files.exists(relative):
            if relative not in files.flagged:  # else already reported as a link or oversized
                findings.error("manifest.missing_file", relative, "is listed in submission.json but absent")
        elif files.sha256(relative) not in (None, expected):
            findings.error("manifest.hash", relative,
                           f"sha256 {files.sha256(relative)} differs from the {expected} listed in "
                           "submission.json (changed after packaging)")
    for relative in files.sizes:
        if relative != MANIFEST and relative not in manifest.files:
            findings.error("manifest.unlisted", relative,
                           "is not listed in submission.json (added after packaging): remove it")
