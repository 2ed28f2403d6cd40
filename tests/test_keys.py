"""The signing key on disk: created private, refused when shared, damaged or of another kind."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accelbench.errors import UserError
from accelbench.trust.keys import (
    default_key_path,
    generate_key,
    load_key,
    load_or_create_key,
    public_key_pem,
)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """Umask 0, so that the modes seen are the ones the code asked for, not the umask's."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "config"
    monkeypatch.setenv("ACCELBENCH_CONFIG_DIR", str(directory))
    return directory


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def refused(path: Path, match: str) -> str:
    with pytest.raises(UserError) as err:
        load_key(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    assert match in message
    return message


def write(path: Path, data: bytes, file_mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(file_mode)
    return path


def test_default_path_follows_the_env_var(config_dir: Path) -> None:
    assert default_key_path() == config_dir / "signing-key.pem"


def test_default_path_is_the_user_config_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCELBENCH_CONFIG_DIR", raising=False)
    expected = Path(platformdirs.user_config_dir("accelbench")) / "signing-key.pem"
    assert default_key_path() == expected


def test_generated_key_is_private_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "key.pem"
    key = generate_key(path)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(path.parent.parent) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8, unencrypted
    assert raw(load_key(path)) == raw(key)


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    first = generate_key(path)
    with pytest.raises(UserError) as err:
        generate_key(path)
    assert "already exists" in str(err.value) and "\n" not in str(err.value)
    assert raw(load_key(path)) == raw(first)


def test_generate_overwrites_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    first = generate_key(path)
    second = generate_key(path, overwrite=True)
    assert raw(second) != raw(first)
    assert raw(load_key(path)) == raw(second)
    assert mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_generate_in_an_unwritable_place(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UserError) as err:
        generate_key(blocker / "key.pem")
    assert "cannot create signing key" in str(err.value) and "\n" not in str(err.value)


def test_missing_key() -> None:
    refused(Path("/nonexistent/accelbench/key.pem"), "does not exist")


@pytest.mark.parametrize("file_mode", [0o640, 0o604, 0o660, 0o644])
def test_key_shared_with_others_is_refused(tmp_path: Path, file_mode: int) -> None:
    path = tmp_path / "key.pem"
    generate_key(path)
    path.chmod(file_mode)
    refused(path, f"chmod 600 {path}")


def test_unreadable_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "key.pem"
    generate_key(path)

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    refused(path, "cannot be read (Permission denied)")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_key_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    generate_key(path)
    path.chmod(0o000)
    refused(path, "cannot be read")


def test_directory_instead_of_key(tmp_path: Path) -> None:
    refused(tmp_path, "not a regular file")


def test_garbage_is_not_pem(tmp_path: Path) -> None:
    refused(write(tmp_path / "key.pem", b"\x00\xffgarbage\n"), "not a PEM file")


def test_damaged_pem(tmp_path: Path) -> None:
    data = b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    refused(write(tmp_path / "key.pem", data), "damaged or unsupported")


def test_public_key_is_not_a_private_key(tmp_path: Path) -> None:
    pem = public_key_pem(Ed25519PrivateKey.generate()).encode()
    refused(write(tmp_path / "key.pem", pem), "holds a PEM PUBLIC KEY, not a private key")


def test_rsa_key_is_refused(tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    refused(write(tmp_path / "key.pem", pem), "holds a key of type RSA, but results are signed with Ed25519")


def test_encrypted_key_is_refused(tmp_path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    refused(write(tmp_path / "key.pem", pem), "is encrypted")


def test_default_key_is_created_once_then_reused(config_dir: Path) -> None:
    key, path, created = load_or_create_key(None)
    assert (path, created) == (config_dir / "signing-key.pem", True)
    assert mode(path) == 0o600 and mode(config_dir) == 0o700
    again, path_again, created_again = load_or_create_key(None)
    assert (path_again, created_again) == (path, False)
    assert raw(again) == raw(key)


def test_explicit_key_must_exist(tmp_path: Path, config_dir: Path) -> None:
    path = tmp_path / "typo.pem"
    with pytest.raises(UserError) as err:
        load_or_create_key(path)
    assert "does not exist" in str(err.value) and "\n" not in str(err.value)
    assert not path.exists() and not config_dir.exists()


def test_explicit_key_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "mine.pem"
    key = generate_key(path)
    loaded, loaded_path, created = load_or_create_key(path)
    assert (loaded_path, created, raw(loaded)) == (path, False, raw(key))


def test_public_key_pem() -> None:
    key = Ed25519PrivateKey.generate()
    pem = public_key_pem(key)
    assert pem == public_key_pem(key.public_key())
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert serialization.load_pem_public_key(pem.encode()) == key.public_key()
