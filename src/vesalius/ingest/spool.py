"""The spool: received bytes made durable before anyone is told they arrived.

A spooled entry is one file: a 4-byte length, a small JSON header (the intake context),
then the object's bytes. It is written to a temporary name, fsynced and renamed, and
the folder is fsynced, so an entry either exists whole or not at all. Entries are
removed only after the object is stored and indexed (or quarantined); a node drains
what is left on start, so a crash after acknowledging loses nothing.

Entries may hold identified data (a ``--deid`` project's objects before they are
de-identified), so once the home has a vault master key (``vesalius.core.sealing``,
created with the first ``--deid`` project) every entry's bytes are sealed with it
(AES-GCM, the header bound as associated data): the spool never holds PHI in the clear.
All entries are sealed, not only those of de-identified projects, because the
acknowledgement path does no database work to find out which project an object is for;
sealing costs little next to the fsync.
"""

from __future__ import annotations

import json
import os
import struct
import uuid
from dataclasses import asdict
from pathlib import Path

from vesalius.core.config import Settings
from vesalius.core.errors import StorageError
from vesalius.core.sealing import MasterKey, seal, unseal
from vesalius.ingest.context import IntakeContext

SUFFIX = ".spool"
SEALED = "aes-256-gcm"
_CONTEXT = b"vesalius:spool:v1\x00"


class Spool:
    """A home's spool. ``settings`` (given by :meth:`for_home`) lets it seal entries and
    lets the pipeline find the home's keys for de-identified projects."""

    def __init__(self, root: Path, *, settings: Settings | None = None) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.settings = settings
        self.master = MasterKey(settings) if settings is not None else None

    @classmethod
    def for_home(cls, settings: Settings) -> Spool:
        return cls(settings.spool_dir, settings=settings)

    def write(self, data: bytes, context: IntakeContext) -> Path:
        fields = asdict(context)
        key = self.master.get(create=False) if self.master is not None else None
        if key is not None:
            fields["sealed"] = SEALED
        header = json.dumps(fields).encode()
        if key is not None:
            data = seal(key, data, _CONTEXT + header)
        name = f"{uuid.uuid4().hex}{SUFFIX}"
        tmp = self.root / f".{name}.tmp"
        final = self.root / name
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, struct.pack(">I", len(header)) + header)
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, final)
            self._sync_dir()
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"could not spool a received object: {exc.strerror}") from exc
        return final

    def read(self, path: Path) -> tuple[IntakeContext, bytes]:
        raw = path.read_bytes()
        (length,) = struct.unpack(">I", raw[:4])
        header = raw[4 : 4 + length]
        fields = json.loads(header)
        sealed = fields.pop("sealed", None)
        data = raw[4 + length :]
        if sealed is not None:
            if sealed != SEALED or self.master is None:
                raise StorageError("a sealed spool entry needs the home's vault key to be read")
            key = self.master.get(create=False)
            if key is None:
                raise StorageError("a sealed spool entry needs the home's vault key to be read")
            data = unseal(key, data, _CONTEXT + header)
        return IntakeContext(**fields), data

    def pending(self) -> list[Path]:
        """Entries left behind, oldest first (by name order of their modification time)."""
        entries = [p for p in self.root.iterdir() if p.name.endswith(SUFFIX)]
        return sorted(entries, key=lambda p: p.stat().st_mtime_ns)

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def _sync_dir(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
