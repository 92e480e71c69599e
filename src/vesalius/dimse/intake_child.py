"""The intake process started by :class:`vesalius.dimse.intake_process.IntakeProcess`.

``python -m vesalius.dimse.intake_child --home H --parent PID``: reads spool entry names,
one per line, from its standard input and runs them through the intake chain with a
:class:`~vesalius.dimse.intake.SpoolWorker`. It first takes every entry already in the
spool (what an earlier child left). At the end of its input it finishes what it has
within ``--stop-timeout`` seconds and exits; whatever is left stays in the spool.

It ignores SIGINT and SIGTERM: a Ctrl-C or a service manager's TERM reaches the whole
process group, and the server then ends the child's input itself, so a half-done batch
is never cut short by the signal. If the server dies, the child is killed with it
(``PR_SET_PDEATHSIG``), so no orphan keeps working on a spool the next server drains.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Be killed when the server dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except OSError:
            pass  # end of input still stops the child
    if os.getppid() != parent:  # the server died before the line above took effect
        sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vesalius.dimse.intake_child")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--stop-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    die_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from vesalius.core.config import load_settings
    from vesalius.core.home import open_home
    from vesalius.dimse.intake import SpoolWorker
    from vesalius.ingest.spool import Spool

    settings = load_settings(args.home)
    home = open_home(settings)
    spool = Spool.for_home(settings)
    worker = SpoolWorker(home, spool)
    worker.start()
    earlier = spool.pending()  # an earlier child's, oldest first
    for entry in earlier:
        worker.submit(entry)
    left = set(earlier)  # the server may name some of them again
    for line in sys.stdin.buffer:
        entry = Path(os.fsdecode(line.rstrip(b"\n")))
        if entry not in left:
            worker.submit(entry)
    worker.stop(timeout=args.stop_timeout)
    home.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
