"""The bridge's Ed25519 signing key: a file in the data dir, created on first use with mode 0600.

``load_or_create(path)`` is safe against two processes starting at once (``serve`` and ``token add``): the key is
written to a private temporary file and hard-linked into place, so a reader never sees a half-written key and the
first writer wins.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..private_files import private_dir
from .errors import ConfigError

KEY_FILE = "signing-key.pem"


def load_or_create(path: Path) -> Ed25519PrivateKey:
    """The key stored at ``path``; a new one (mode 0600) if there is none."""
    try:
        return _load(path)
    except FileNotFoundError:
        pass
    private_dir(path.parent)
    pem = new_pem()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic; loses against a concurrent creator
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return _load(path)


def new_pem() -> bytes:
    """A fresh Ed25519 private key as unencrypted PKCS#8 PEM."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def from_pem(data: bytes, where: str) -> Ed25519PrivateKey:
    """Parse a stored signing key; :class:`ConfigError` naming ``where`` it came from if it is not Ed25519 PEM."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise ConfigError(f"{where} is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{where} is not an Ed25519 key")
    return key


def _load(path: Path) -> Ed25519PrivateKey:
    return from_pem(path.read_bytes(), f"signing key {path}")


def public_raw(key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public key."""
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
