"""Storage area in a local folder: ``root/ab/cd/<digest>``, one read-only file per blob.

The fan-out (first 2 + 2 hex characters) keeps directories small (at most 256 entries
per level), which keeps lookups fast on every file system. A put writes a temporary
file next to its final place, fsyncs it, and publishes it with ``os.link``: link fails
if the name already exists, so a blob is never overwritten, and concurrent puts of the
same digest are safe without locks. A crash can leave ``.tmp-*`` files behind, never a
partial blob under a digest name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from vesalius.core.errors import BlobNotFound, IntegrityError, StorageError
from vesalius.core.storage import check_digest, check_range

_TMP_PREFIX = ".tmp-"


def _fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a new file or subfolder name) survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(directory: Path) -> None:
    """Like ``os.makedirs`` but fsyncs each parent, so new folders are durable too."""
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        # Another writer may have made it; fsync anyway before relying on it.
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder)
        _fsync_dir(folder.parent)


class FileBlobStore:
    """Blobs as files under ``root``; safe for several threads and processes at once."""

    def __init__(self, root: Path) -> None:
        # Absolute now, so a later chdir cannot move the archive.
        self.root = Path(root).absolute()
        self.url = self.root.as_uri()

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, digest: str, data: bytes) -> bool:
        check_digest(digest)
        if hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(f"data does not match digest {digest}")
        final = self._path(digest)
        try:
            if self._stat_exists(final):
                return False
            _make_dirs(final.parent)
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=_TMP_PREFIX)
            try:
                with open(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o444)
                try:
                    os.link(tmp, final)
                    created = True
                except FileExistsError:
                    created = False
            finally:
                os.unlink(tmp)
            # Also on False: the winner may not have fsynced the folder yet, and our
            # caller is about to treat the blob as durably stored.
            _fsync_dir(final.parent)
            return created
        except OSError as exc:
            raise StorageError(f"cannot store blob {digest} in {self.url}") from exc

    def get(self, digest: str, start: int = 0, end: int | None = None) -> bytes:
        check_digest(digest)
        check_range(start, end)
        try:
            with open(self._path(digest), "rb") as handle:
                if start:
                    handle.seek(start)
                return handle.read() if end is None else handle.read(end - start)
        except FileNotFoundError as exc:
            raise BlobNotFound(f"no blob {digest} in {self.url}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read blob {digest} from {self.url}") from exc

    def exists(self, digest: str) -> bool:
        check_digest(digest)
        try:
            return self._stat_exists(self._path(digest))
        except OSError as exc:
            raise StorageError(f"cannot check blob {digest} in {self.url}") from exc

    def remove(self, digest: str) -> None:
        # No folder fsync: a removal undone by a crash leaves an orphan blob, which is
        # harmless (nothing refers to it), while a lost put would lose data.
        check_digest(digest)
        try:
            os.unlink(self._path(digest))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"cannot remove blob {digest} from {self.url}") from exc

    @staticmethod
    def _stat_exists(path: Path) -> bool:
        """Unlike ``os.path.exists``, let permission and I/O errors through."""
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True
