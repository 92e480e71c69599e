"""The background half of C-STORE: spooled objects through the rest of the intake stages.

The C-STORE handler only spools (durable: write, fsync, rename) and hands the entry
here; a worker thread (one by default: more only contend for the GIL) takes what has
queued up (up to ``BATCH`` entries) and runs
:func:`vesalius.ingest.pipeline.process_batch` on it (one index commit for the batch),
so parsing, storing and indexing stay off the association's hot path. If a batch fails
its entries are tried one by one; an entry that still fails (database away, say) stays
in the spool and is tried again with a growing delay. Whatever is still queued at
shutdown stays in the spool and is drained on the next start, so an acknowledged object
is never lost.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Protocol

from vesalius.core.home import Home
from vesalius.ingest.pipeline import process_batch, process_spooled
from vesalius.ingest.spool import Spool

log = logging.getLogger("vesalius.dimse")

BATCH = 50
FIRST_RETRY = 2.0
LAST_RETRY = 60.0


class Intake(Protocol):
    """What the C-STORE handler hands spooled entries to: a :class:`SpoolWorker` here or
    an :class:`~vesalius.dimse.intake_process.IntakeProcess` (the same in a child)."""

    def start(self) -> None: ...

    def submit(self, entry: Path) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...


class SpoolWorker:
    def __init__(self, home: Home, spool: Spool, *, threads: int = 1) -> None:
        self.home = home
        self.spool = spool
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._retry: list[tuple[float, str, float]] = []  # (due, entry, delay)
        self._delays: dict[str, float] = {}
        self._lock = threading.Lock()
        self._abandon = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"vesalius-intake-{i}", daemon=True)
            for i in range(max(1, threads))
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, entry: Path) -> None:
        self._queue.put(entry)

    def pending(self) -> int:
        """Entries queued or waiting for a retry (not those being processed)."""
        with self._lock:
            return self._queue.qsize() + len(self._retry)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued within ``timeout``; the rest stays in the spool."""
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            self._abandon.set()
            log.warning("stopping with objects left in the spool; they finish on the next start")
            for thread in self._threads:
                thread.join(5)

    def _due_retries(self) -> None:
        now = time.monotonic()
        with self._lock:
            while self._retry and self._retry[0][0] <= now:
                _, entry, delay = heapq.heappop(self._retry)
                self._queue.put(Path(entry))
                self._delays[entry] = delay

    def _run(self) -> None:
        while not self._abandon.is_set():
            self._due_retries()
            try:
                entry = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if entry is None:
                return
            batch = [entry]
            stop = False
            while len(batch) < BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._process_batch(batch)
            if stop:
                return

    def _process_batch(self, batch: list[Path]) -> None:
        batch = [entry for entry in batch if entry.exists()]  # a drain may have done some
        if len(batch) > 1:
            try:
                process_batch(self.home.db, self.home.store, self.spool, batch)
            except Exception:
                log.warning("a batch of %d spooled objects failed; trying each", len(batch))
            else:
                with self._lock:
                    for entry in batch:
                        self._delays.pop(str(entry), None)
                return
        for entry in batch:
            self._process(entry)

    def _process(self, entry: Path) -> None:
        if not entry.exists():
            return
        try:
            process_spooled(self.home.db, self.home.store, self.spool, entry)
        except Exception:
            with self._lock:
                delay = min(LAST_RETRY, self._delays.pop(str(entry), FIRST_RETRY / 2) * 2)
                heapq.heappush(self._retry, (time.monotonic() + delay, str(entry), delay))
            log.exception("a spooled object could not be archived; retrying in %.0f s", delay)
        else:
            with self._lock:
                self._delays.pop(str(entry), None)
