"""An in-memory storage area: the port's fake for unit tests, with the same contract."""

from __future__ import annotations

import hashlib
import threading

from vesalius.core.errors import BlobNotFound, IntegrityError
from vesalius.core.storage import check_digest, check_range


class MemoryBlobStore:
    """Blobs in a dict; a lock makes put's check-and-insert atomic across threads."""

    def __init__(self) -> None:
        self.url = "memory://"
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, digest: str, data: bytes) -> bool:
        check_digest(digest)
        data = bytes(data)  # a private copy: a caller's bytearray must not change it later
        if hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(f"data does not match digest {digest}")
        with self._lock:
            if digest in self._blobs:
                return False
            self._blobs[digest] = data
            return True

    def get(self, digest: str, start: int = 0, end: int | None = None) -> bytes:
        check_digest(digest)
        check_range(start, end)
        with self._lock:
            data = self._blobs.get(digest)
        if data is None:
            raise BlobNotFound(f"no blob {digest}")
        return data[start:end]

    def exists(self, digest: str) -> bool:
        check_digest(digest)
        with self._lock:
            return digest in self._blobs

    def remove(self, digest: str) -> None:
        check_digest(digest)
        with self._lock:
            self._blobs.pop(digest, None)
