"""Which keys a submission trusts: the public keys it ships in keys/, each named by its id.

A signature only says "whoever holds this key"; the manifest says which keys speak for the
submitter. A key file must hold exactly the Ed25519 key its id names, or a key could be
swapped under a familiar name.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from accelbench.submission.layout import KEYS_DIR, SubmissionManifest
from accelbench.trust.signing import key_id
from accelbench.validation.files import SubmissionFiles
from accelbench.validation.findings import Findings, shown


def trusted_key_ids(files: SubmissionFiles, manifest: SubmissionManifest, findings: Findings) -> frozenset[str]:
    """The ids in `public_keys` whose key file holds that very key."""
    trusted = set()
    for name, relative in manifest.public_keys.items():
        expected = f"{KEYS_DIR}/{name}.pem"
        if relative != expected:
            findings.error("keys.file", relative,
                           f"public_keys[{shown(name)}] names {shown(relative)}; a key lives at {expected}")
            continue
        data = files.read_bytes(relative)
        if data is None:
            if not files.exists(relative):
                findings.error("keys.file", relative, f"public_keys[{shown(name)}]: the key file is missing")
            continue
        try:
            public = load_pem_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            findings.error("keys.file", relative, "is not a PEM public key")
            continue
        if not isinstance(public, Ed25519PublicKey):
            findings.error("keys.file", relative, "holds a key that is not Ed25519")
            continue
        if key_id(public) != name:
            findings.error("keys.file", relative,
                           f"holds key {key_id(public)}, not the key {shown(name)} it is listed as")
            continue
        trusted.add(name)
    return frozenset(trusted)
