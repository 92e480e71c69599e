"""The spool: received bytes made durable before anyone is told they arrived.

A spooled entry is one file: a 4-byte length, a small JSON header (the intake context),
then the object's bytes. It is written to a temporary name, fsynced and renamed, and
the folder is fsynced, so an entry either exists whole or not at all. Entries are
removed only after the object is stored and indexed (or quarantined); a node drains
what is left on start, so a crash after acknowledging loses nothing.
"""

from __future__ import annotations

import json
import os
import struct
import uuid
from dataclasses import asdict
from pathlib import Path

from vesalius.core.errors import StorageError
from vesalius.ingest.context import IntakeContext

SUFFIX = ".spool"


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def write(self, data: bytes, context: IntakeContext) -> Path:
        header = json.dumps(asdict(context)).encode()
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
        context = IntakeContext(**json.loads(raw[4 : 4 + length]))
        return context, raw[4 + length :]

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
