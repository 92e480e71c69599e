"""The background half of C-STORE in a process of its own (the parent's side).

Why a process: parsing, storing and indexing a received object costs several times the
CPU of receiving and spooling it (about 12 ms against 4 ms for a 512 x 512 CT here).
In one process they share one GIL, so every association waits for the intake thread
between two PDUs: with the intake running, ``storescu`` was acknowledged at half the rate
it gets without it, and a 2-core machine used one core. A child process
(:mod:`vesalius.dimse.intake_child`) runs the same :class:`~vesalius.dimse.intake.SpoolWorker`
on its own interpreter.

Nothing about durability changes: the spool is still the hand-off. An object is
acknowledged once its entry is durable; the child is told the entry's name over a pipe
and removes the entry only after its index commit. If the child dies, a new one is
started and first takes every entry in the spool, so a name lost in the pipe is never an
object lost. The child dies with the server (``PR_SET_PDEATHSIG`` on Linux, end of its
input everywhere), so a restarted server never shares its spool with an orphan.

The child is started as ``python -m vesalius.dimse.intake_child --home H`` with the
server's environment, so it builds the same settings from the same sources. A server
whose settings came from elsewhere (built in code with overrides, as some tools and
tests do) would not be reproduced: :func:`settings_reproducible` checks this, and
:class:`vesalius.dimse.server.DimseServer` keeps the intake in a thread then.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from vesalius.core.config import Settings, load_settings

log = logging.getLogger("vesalius.dimse")

RESTART_CHECK_SECONDS = 1.0
STOP_GRACE_SECONDS = 10.0


def settings_reproducible(settings: Settings) -> bool:
    """True if ``load_settings(home)`` in a child with this environment gives these."""
    try:
        again = load_settings(settings.home)
    except Exception:
        return False
    return again.model_dump() == settings.model_dump()


class IntakeProcess:
    """Feeds spooled entries to a child process; same interface as ``SpoolWorker``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watchdog = threading.Thread(
            target=self._watch, name="vesalius-intake-watch", daemon=True
        )
        self.restarts = 0

    def start(self) -> None:
        with self._lock:
            self._spawn()
        self._watchdog.start()

    def submit(self, entry: Path) -> None:
        line = os.fsencode(str(entry)) + b"\n"
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None:
                return  # stopping: the entry stays in the spool for the next start
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except (OSError, ValueError):
                # The child is gone; the watchdog starts another, which takes the spool.
                log.warning("the intake process did not take a spooled object; it will")

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """Let the child finish what it was given within ``timeout``; the rest stays
        in the spool and is drained on the next start."""
        self._stopping.set()
        if self._watchdog.is_alive():
            self._watchdog.join(RESTART_CHECK_SECONDS * 2)
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # end of input: finish and exit
        try:
            proc.wait(timeout + 5)
        except subprocess.TimeoutExpired:
            log.warning("the intake process did not finish in time; the spool keeps the rest")
            proc.kill()
            proc.wait()

    def _spawn(self) -> None:
        cmd = [
            sys.executable, "-m", "vesalius.dimse.intake_child",
            "--home", str(self.settings.home),
            "--parent", str(os.getpid()),
            "--stop-timeout", str(STOP_GRACE_SECONDS),
        ]  # fmt: skip
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, close_fds=True)

    def _watch(self) -> None:
        while not self._stopping.wait(RESTART_CHECK_SECONDS):
            with self._lock:
                proc = self._proc
                if proc is None or proc.poll() is None or self._stopping.is_set():
                    continue
                log.error(
                    "the intake process exited (code %s); starting another, which takes the spool",
                    proc.returncode,
                )
                self.restarts += 1
                self._spawn()
