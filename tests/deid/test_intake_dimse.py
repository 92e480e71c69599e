"""C-STORE (DCMTK ``storescu``) into a ``--deid`` project de-identifies before storing."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from deid_corpus import build_corpus
from sqlalchemy import func, select
from test_intake import fixed_key, leaks_in_home, leaks_in_index, write

from vesalius.core.config import Settings
from vesalius.core.home import open_home
from vesalius.core.model import Instance, Subject

from conftest import Cli, Server, free_port, require_tool

SENT = ["a-study1-ct0", "a-study2-ct0", "b-ct-aged", "b-us"]


def instances(settings: Settings) -> int:
    home = open_home(settings)
    try:
        with home.db.read() as session:
            return session.scalar(select(func.count(Instance.id))) or 0
    finally:
        home.close()


def test_c_store_into_a_deid_project(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    storescu = require_tool("storescu", "dcmtk")
    corpus = build_corpus()
    cli("init")
    fixed_key(settings, "dx")
    cli("project", "create", "dx", "--deid", "--accept-unknown-ae")
    files = sorted(write(corpus, tmp_path / "in", SENT).iterdir())
    server = Server(settings, tmp_path / "serve.log", dicom_port=free_port())
    try:
        sent = subprocess.run(
            [storescu, "-aet", "CT1", "-aec", "DX", "127.0.0.1", str(server.dicom_port)]
            + [str(f) for f in files],
            env={**os.environ, "TCP_NODELAY": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sent.returncode == 0, sent.stderr
        deadline = time.monotonic() + 60
        while instances(settings) < len(SENT) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert instances(settings) == len(SENT), server.log.read_text(errors="replace")
    finally:
        server.stop()
    assert leaks_in_home(settings, corpus.planted) == {}
    assert leaks_in_index(settings, corpus.planted) == set()
    assert leaks_in_bytes_of_log(server.log, corpus.planted) == set()
    home = open_home(settings)
    try:
        with home.db.read() as session:
            subjects = sorted(s.subject_id for s in session.scalars(select(Subject)))
    finally:
        home.close()
    assert subjects == ["dx-0001", "dx-0002"]


def leaks_in_bytes_of_log(log: Path, planted: tuple[str, ...]) -> set[str]:
    text = log.read_text(errors="replace")
    return {v for v in planted if v in text}
