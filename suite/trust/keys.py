"""The Ed25519 signing key on disk: one unencrypted PKCS8 PEM file that only its owner can read.

Unencrypted so that unattended runs can sign; private (mode 0600, created that way rather than
chmod-ed afterwards) so that the file is the whole secret. A key that others can read is
refused rather than used: results signed with a leaked key prove nothing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accelbench.errors import UserError

CONFIG_DIR_ENV = "ACCELBENCH_CONFIG_DIR"
KEY_FILE_NAME = "signing-key.pem"


def default_key_path() -> Path:
    """The per-user key; $ACCELBENCH_CONFIG_DIR replaces the config directory (tests, CI)."""
    config_dir = os.environ.get(CONFIG_DIR_ENV) or platformdirs.user_config_dir("accelbench")
    return Path(config_dir) / KEY_FILE_NAME


def _make_private_dirs(directory: Path) -> None:
    """Create the missing parents of the key one by one, each 0700 (makedirs would not)."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)


def _write_private(path: Path, data: bytes) -> None:
    """Write a new file that is 0600 from its first byte; O_EXCL refuses an existing one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def generate_key(path: Path, *, overwrite: bool = False) -> Ed25519PrivateKey:
    """Create a new key at `path`; an existing key is replaced only with `overwrite`."""
    if path.exists() and not overwrite:
        raise UserError(
            f"signing key {path} already exists: use it, or move it away first "
            "(results signed with it can only be checked with its public key)"
        )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        _make_private_dirs(path.parent)
    except OSError as err:
        raise UserError(
            f"cannot create the directory {path.parent} for signing key {path} ({err.strerror}): "
            f"pass --key with a writable path or set {CONFIG_DIR_ENV} to a writable directory"
        ) from None
    try:
        if overwrite:
            # Written beside the old key, then renamed over it: never a moment without a key.
            staging = path.with_name(f".{path.name}.new")
            staging.unlink(missing_ok=True)
            _write_private(staging, pem)
            os.replace(staging, path)
        else:
            _write_private(path, pem)
    except FileExistsError:
        raise UserError(
            f"signing key {path} was created by another process meanwhile: run again to use it"
        ) from None
    except OSError as err:
        raise UserError(
            f"cannot create signing key {path} ({err.strerror}): pass --key with a writable "
            f"path or set {CONFIG_DIR_ENV} to a writable directory"
        ) from None
    return key


def _pem_label(data: bytes) -> str | None:
    """The label of the first PEM block ("PRIVATE KEY", "PUBLIC KEY", ...), None if not PEM."""
    first = data.lstrip().split(b"\n", 1)[0].strip()
    if first.startswith(b"-----BEGIN ") and first.endswith(b"-----"):
        return first[len(b"-----BEGIN ") : -len(b"-----")].decode("ascii", "replace")
    return None


def load_key(path: Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key, refusing one that is missing, shared, or of another kind."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UserError(
            f"signing key {path} does not exist: check --key, or leave --key out to use "
            f"(and on first use create) {default_key_path()}"
        ) from None
    except OSError as err:
        raise UserError(f"signing key {path} cannot be read ({err.strerror}): check --key") from None
    if not stat.S_ISREG(mode):
        raise UserError(f"signing key {path} is not a regular file: pass --key with a PEM key file")
    if os.name == "posix" and mode & 0o077:
        raise UserError(
            f"signing key {path} is readable or writable by group or others "
            f"(mode {stat.S_IMODE(mode):04o}): run chmod 600 {path}"
        )
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(
            f"signing key {path} cannot be read ({err.strerror}): make it readable by you "
            f"(chown it to your user, chmod 600 {path})"
        ) from None
    label = _pem_label(data)
    if label is None:
        raise UserError(
            f"signing key {path} is not a PEM file: pass --key with an Ed25519 private key "
            "in PEM (PKCS8) form"
        )
    if label != "PRIVATE KEY" and not label.endswith(" PRIVATE KEY"):
        raise UserError(
            f"signing key {path} holds a PEM {label}, not a private key: "
            "pass --key with the private key file"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise UserError(
            f"signing key {path} is encrypted: accelbench signs unattended and needs an "
            "unencrypted key protected by chmod 600"
        ) from None
    except ValueError:
        raise UserError(
            f"signing key {path} is a damaged or unsupported PEM private key: "
            "pass --key with an Ed25519 private key in PEM (PKCS8) form"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        kind = type(key).__name__.lstrip("_").replace("PrivateKey", "")
        raise UserError(
            f"signing key {path} holds a key of type {kind}, but results are signed with Ed25519: "
            "pass --key with an Ed25519 key, or leave --key out to use the default key"
        )
    return key


def load_or_create_key(path: Path | None) -> tuple[Ed25519PrivateKey, Path, bool]:
    """The key to sign with, its path, and whether it was just created.

    Only the default key is created on first use; an explicit path that does not exist is a
    typo to report, not a new key to make.
    """
    if path is not None:
        return load_key(path), path, False
    default = default_key_path()
    if default.exists():
        return load_key(default), default, False
    return generate_key(default), default, True


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public half as SubjectPublicKeyInfo PEM, to hand to whoever checks the results."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")
