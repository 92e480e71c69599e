"""The vault master key and AES-GCM sealing of identified bytes at rest.

Identified data (the honest-broker vault's values, spool entries and quarantined objects
of de-identified projects) is kept only sealed: AES-256-GCM under one master key per home,
with a fresh 96-bit nonce per value and *associated data* naming what the value is (the
project, the row, the entry). A ciphertext copied into another row or another project
fails to open instead of being read as the wrong patient's data.

The master key comes from ``VESALIUS_VAULT_KEY`` (base64 of 32 bytes; for nodes that
get their secrets from the environment) or from ``<home>/secrets/vault.key`` (the same
base64 text), created with mode 0600 the first time a de-identified project needs it. A
key file the group or others may read is refused: whoever can read it can read every
vault entry. Errors name the path, never the key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vesalius.core.config import Settings
from vesalius.core.errors import ConfigError, VesaliusError
from vesalius.core.secret_files import require_owner_only

KEY_BYTES = 32
NONCE_BYTES = 12
ENV_NAME = "VESALIUS_VAULT_KEY"
FILE_NAME = "vault.key"
_FORMAT = b"\x01"  # leading byte of every sealed value: the format (AES-256-GCM, 96-bit nonce)


class SealError(VesaliusError):
    """A sealed value could not be opened: wrong key, wrong context, or altered bytes."""

    title = "Sealed data could not be opened"


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """``format || nonce || AES-GCM(plaintext)``; ``context`` is bound as associated data."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return _FORMAT + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, sealed: bytes, context: bytes) -> bytes:
    """The plaintext of ``sealed``; raises ``SealError`` if it was altered or moved."""
    if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != _FORMAT:
        raise SealError("not a sealed value of this format")
    nonce = sealed[1 : 1 + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, sealed[1 + NONCE_BYTES :], context)
    except InvalidTag:
        raise SealError(
            "sealed value failed authentication (altered, moved to another row, or another key)"
        ) from None


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: the vault key is not base64") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{where}: the vault key must be {KEY_BYTES} bytes (base64-encoded)")
    return key


def key_path(settings: Settings) -> Path:
    return settings.secrets_dir / FILE_NAME


def read_key_file(path: Path) -> bytes:
    """The master key in ``path``; refuses anything but a regular file of mode 0600 or 0400."""
    require_owner_only(path, what="the vault key")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the vault key ({type(exc).__name__})") from None
    return _decode(text, str(path))


def _create_key_file(path: Path) -> None:
    """Write a new key to a private temporary file and link it into place: concurrent first
    uses never see half a key, and exactly one of them wins."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the vault key ({exc.strerror})") from None
    finally:
        tmp.unlink(missing_ok=True)


class MasterKey:
    """The home's vault master key, read once and kept; safe to share between threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._key: bytes | None = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return key_path(self.settings)

    def get(self, *, create: bool = True) -> bytes | None:
        """The key; created on first need when ``create``, else None if there is none yet."""
        if self._key is not None:
            return self._key
        with self._lock:
            if self._key is None:
                self._key = self._load(create=create)
            return self._key

    def require(self) -> bytes:
        key = self.get(create=True)
        assert key is not None
        return key

    def _load(self, *, create: bool) -> bytes | None:
        if self.settings.vault_key is not None:
            return _decode(self.settings.vault_key.get_secret_value(), ENV_NAME)
        path = self.path
        if not path.exists():
            if not create:
                return None
            _create_key_file(path)
        return read_key_file(path)
