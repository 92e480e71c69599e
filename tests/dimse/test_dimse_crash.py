"""Acknowledged means durable: kill the server mid-stream, restart, nothing acknowledged is lost."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from dimse_world import DCMTK_ENV, dataset_part, world, write_study

from conftest import require_tool

TOTAL = 300
KILL_AFTER = 120


def test_every_acknowledged_object_survives_a_sigkill(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.mktemp("crash")
    with world(base) as w:
        w.cli("project", "create", "trial")
        w.cli(
            "modality",
            "add",
            "scanner",
            "--ae-title",
            "SCANNER",
            "--host",
            "127.0.0.1",
            "--port",
            "11104",
            "-p",
            "trial",
        )
        folder = base / "objects"
        write_study(folder, "K1", "Kill^Nine", dt.date(2024, 9, 9), [("CT", "ax", TOTAL)])
        server = w.start()
        sender = subprocess.Popen(
            [
                require_tool("storescu", "dcmtk"),
                "-v",
                "-aet",
                "SCANNER",
                "-aec",
                "TRIAL",
                "127.0.0.1",
                str(w.port),
                "+sd",
                str(folder),
            ],
            env={**os.environ, **DCMTK_ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        acknowledged: list[str] = []
        current: str | None = None
        lines: list[str] = []
        assert sender.stdout is not None
        for line in sender.stdout:
            lines.append(line)
            if match := re.match(r"I: Sending file: (.+)$", line.strip()):
                current = Path(match.group(1)).stem  # files are named <SOP Instance UID>.dcm
            elif "Received Store Response (Success)" in line:
                assert current is not None
                acknowledged.append(current)
                current = None
                if len(acknowledged) == KILL_AFTER:
                    server.process.send_signal(signal.SIGKILL)
        sender.wait(30)
        server.process.wait(10)
        assert server.process.returncode == -signal.SIGKILL
        assert KILL_AFTER <= len(acknowledged) < TOTAL, "".join(lines[-20:])
        assert sender.returncode != 0  # the association died with the server

        w.start()  # same home: the spool left behind is drained before serving
        restarted = w.log()
        missing = [uid for uid in acknowledged if w.stored_file("trial", uid) is None]
        assert missing == [], f"{len(missing)} acknowledged objects lost; log:\n{restarted}"
        for uid in acknowledged[:: max(1, len(acknowledged) // 20)]:
            sent = (folder / f"{uid}.dcm").read_bytes()
            assert dataset_part(w.stored_file("trial", uid) or b"") == dataset_part(sent)
        assert not list((w.home / "spool").glob("*.spool"))
