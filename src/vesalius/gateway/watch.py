"""The watched folder: files that have stopped changing are taken into the local project.

A file is taken once its size and modification time have not changed for ``settle``
seconds (a scanner or a copy may still be writing it). Taking a file means the intake
chain (spool, de-identify, store, index, publish) and, once that has committed, removing
the file; a crash in between takes it again on the next start, which is harmless because
de-identification is deterministic (the second copy is a duplicate). Files the chain
quarantines are removed too: they are kept, sealed, in the home's quarantine. Hidden
files (a leading dot, as copy tools name their temporaries) are left alone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from vesalius.core.errors import StorageError, VesaliusError
from vesalius.core.home import Home
from vesalius.ingest.context import IntakeContext, Outcome
from vesalius.ingest.pipeline import process_batch
from vesalius.ingest.spool import Spool

log = logging.getLogger("vesalius.gateway.watch")

BATCH = 50


@dataclass
class _Seen:
    signature: tuple[int, int]
    since: float


@dataclass
class FolderWatcher:
    """Polls ``folder`` and takes settled files into project ``project`` of ``home``."""

    home: Home
    folder: Path
    project: str
    settle: float = 2.0
    interval: float = 0.5
    _seen: dict[Path, _Seen] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.spool = Spool.for_home(self.home.settings)
        self.context = IntakeContext(
            source="gateway-watch", actor="gateway", project_key=self.project
        )

    def settled(self, now: float | None = None) -> list[Path]:
        """Files unchanged for ``settle`` seconds, oldest first."""
        now = time.monotonic() if now is None else now
        present: dict[Path, tuple[int, int]] = {}
        for root, dirs, files in os.walk(self.folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if name.startswith("."):
                    continue
                path = Path(root) / name
                try:
                    stat = path.stat()
                except OSError:
                    continue
                present[path] = (stat.st_size, stat.st_mtime_ns)
        for path in list(self._seen):
            if path not in present:
                del self._seen[path]
        ready = []
        for path, signature in present.items():
            seen = self._seen.get(path)
            if seen is None or seen.signature != signature:
                self._seen[path] = _Seen(signature, now)
            elif now - seen.since >= self.settle:
                ready.append((signature[1], path))
        return [path for _, path in sorted(ready)]

    def take(self, paths: list[Path]) -> dict[Outcome, int]:
        """Run files through the intake chain in batches; removes each once committed."""
        counts: dict[Outcome, int] = {}
        for start in range(0, len(paths), BATCH):
            chunk = paths[start : start + BATCH]
            entries, taken = [], []
            for path in chunk:
                try:
                    data = path.read_bytes()
                except OSError:
                    continue  # gone or unreadable for now: looked at again next round
                entries.append(self.spool.write(data, self.context))
                taken.append(path)
            if not entries:
                continue
            try:
                outcomes = process_batch(self.home.db, self.home.store, self.spool, entries)
            except BaseException:
                for entry in entries:  # the files are still there: taken again next round
                    self.spool.remove(entry)
                raise
            for path, outcome in zip(taken, outcomes, strict=True):
                counts[outcome] = counts.get(outcome, 0) + 1
                path.unlink(missing_ok=True)
                self._seen.pop(path, None)
        return counts

    def run_once(self) -> dict[Outcome, int]:
        return self.take(self.settled())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                counts = self.run_once()
            except (VesaliusError, StorageError) as exc:
                log.error("watched folder: intake failed, will retry: %s", exc)
            except Exception as exc:  # messages may quote header values: the type only
                log.error("watched folder: intake failed, will retry: %s", type(exc).__name__)
            else:
                if counts:
                    log.info(
                        "watched folder: %s",
                        ", ".join(f"{n} {o.value}" for o, n in sorted(counts.items())),
                    )
            self._stop.wait(self.interval)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="gateway-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
