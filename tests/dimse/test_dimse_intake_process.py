"""The C-STORE intake chain runs in a child process that dies with the server and is
replaced when it dies alone, without losing an acknowledged object."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from pathlib import Path

import pytest
from dimse_world import World, wait_until, world, write_study

CHILD_MODULE = "vesalius.dimse.intake_child"


def intake_children(home: Path) -> list[int]:
    """PIDs of intake processes working for ``home`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if CHILD_MODULE.encode() in args and os.fsencode(str(home)) in args:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def setup_project(w: World) -> None:
    w.cli("project", "create", "trial")
    w.cli(
        "modality", "add", "scanner", "--ae-title", "SCANNER", "--host", "127.0.0.1",
        "--port", "11104", "-p", "trial",
    )  # fmt: skip


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc (Linux)")
def test_intake_child_dies_with_a_killed_server(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("intake-child")
    with world(base) as w:
        setup_project(w)
        server = w.start()
        wait_until(lambda: len(intake_children(w.home)) == 1, 30, "the intake process")
        (child,) = intake_children(w.home)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        wait_until(lambda: not alive(child), 10, "the intake process to die with the server")


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc (Linux)")
def test_a_killed_intake_child_is_replaced_and_nothing_is_lost(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.mktemp("intake-restart")
    with world(base) as w:
        setup_project(w)
        first = base / "first"
        second = base / "second"
        study = write_study(first, "R1", "Restart^One", dt.date(2024, 3, 1), [("CT", "ax", 40)])[
            0
        ].StudyInstanceUID
        study_2 = write_study(second, "R2", "Restart^Two", dt.date(2024, 3, 2), [("MR", "t1", 40)])[
            0
        ].StudyInstanceUID
        server = w.start()
        wait_until(lambda: len(intake_children(w.home)) == 1, 30, "the intake process")
        (child,) = intake_children(w.home)
        # stop the child so that what arrives now waits in the spool, then kill it
        os.kill(child, signal.SIGSTOP)
        w.scu("storescu", "+sd", calling="SCANNER", called="TRIAL", files=(str(first),))
        assert len(list((w.home / "spool").glob("*.spool"))) == 40  # acknowledged, not indexed
        os.kill(child, signal.SIGKILL)
        wait_until(
            lambda: [pid for pid in intake_children(w.home) if pid != child and alive(pid)],
            30,
            "a new intake process",
        )
        w.scu("storescu", "+sd", calling="SCANNER", called="TRIAL", files=(str(second),))
        w.wait_for_instances("trial", study, 40, timeout=60)
        w.wait_for_instances("trial", study_2, 40, timeout=60)
        wait_until(lambda: not list((w.home / "spool").glob("*.spool")), 30, "an empty spool")
        assert server.process.poll() is None
        assert "the intake process exited" in w.log()
        time.sleep(0.5)
        assert len([pid for pid in intake_children(w.home) if alive(pid)]) == 1
