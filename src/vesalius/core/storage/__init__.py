"""The storage area: immutable bytes addressed by their SHA-256, and nothing else.

As in Orthanc, the storage area knows four verbs (put, get a range, exists, remove) and
nothing of DICOM; the index (database rows) owns the hierarchy. Keeping the two apart
lets the same archive live in a home folder or in an S3 bucket by changing one URL.

Backends are imported lazily by :func:`open_store` so that a laptop install never pays
for importing s3fs/aiobotocore, and so that the backend modules can import the shared
checks below without an import cycle.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from vesalius.core.errors import ConfigError, InvalidInput

__all__ = ["BlobStore", "check_digest", "check_range", "open_store"]

_DIGEST = re.compile(r"[0-9a-f]{64}")


@runtime_checkable
class BlobStore(Protocol):
    """What every backend offers. Objects are never overwritten, only added or removed."""

    url: str
    """Where the objects live, for humans and logs; never carries credentials."""

    def put(self, digest: str, data: bytes) -> bool:
        """Store ``data`` under ``digest``; True if newly written, False if already there.

        Raises IntegrityError when ``data`` does not hash to ``digest``. A True or False
        answer means the object is durably stored.
        """
        ...

    def get(self, digest: str, start: int = 0, end: int | None = None) -> bytes:
        """Return the bytes ``[start, end)`` (clipped at the end); BlobNotFound if unknown."""
        ...

    def exists(self, digest: str) -> bool:
        """Whether an object with that digest is stored."""
        ...

    def remove(self, digest: str) -> None:
        """Delete the object; removing a missing object is not an error."""
        ...


def check_digest(digest: object) -> str:
    """Return ``digest`` if it is 64 lowercase hex characters, else raise InvalidInput.

    Every verb calls this first: a digest becomes a file path or an object key, so
    anything else (``../etc/passwd``, a trailing newline) must never reach a backend.
    """
    if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
        raise InvalidInput("a blob digest must be 64 lowercase hexadecimal characters")
    return digest


def check_range(start: int, end: int | None) -> None:
    """Reject ranges that have no meaning, so that all backends agree on the rest."""
    if start < 0 or (end is not None and end < start):
        raise InvalidInput(f"invalid byte range [{start}, {end})")


def open_store(url: str, *, s3_endpoint_url: str | None = None) -> BlobStore:
    """Build the backend named by ``url`` (a path, ``file://``, ``s3://`` or ``memory://``).

    ``s3_endpoint_url`` points S3 at a compatible service (MinIO, Ceph, moto); it is
    ignored by the other backends. Credentials for S3 come from the usual AWS settings.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "" or (len(scheme) == 1 and url[1:2] == ":"):  # plain or Windows path
        from vesalius.core.storage.file import FileBlobStore

        return FileBlobStore(Path(url))
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"file URL must name a local path, not host {parts.netloc!r}")
        from vesalius.core.storage.file import FileBlobStore

        return FileBlobStore(Path(unquote(parts.path)))
    if scheme == "s3":
        from vesalius.core.storage.s3 import S3BlobStore

        return S3BlobStore(url[len("s3://") :], s3_endpoint_url)
    if scheme == "memory":
        from vesalius.core.storage.memory import MemoryBlobStore

        return MemoryBlobStore()
    raise ConfigError(
        f"unsupported storage URL scheme {scheme!r}: use a path, file://, s3:// or memory://"
    )
