"""A home with a running ``vesalius serve`` (HTTP and DIMSE) for the DIMSE tests.

Built once per test module; DCMTK's command-line tools are the clients. Objects that
C-STORE acknowledged are indexed in the background, so tests wait for the index
(:meth:`World.wait_for_instances`) instead of assuming it is done.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pydicom
import pytest
from pydicom.dataset import Dataset

from vesalius.core.config import load_settings
from vesalius.core.dicom.parse import dataset_offset
from vesalius.core.dicom.synthetic import StudySpec, make_study

from conftest import PG_URL, Cli, Server, free_port, require_tool, token_for

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
# DCMTK leaves Nagle's algorithm on unless told; with it every C-STORE waits ~40 ms
DCMTK_ENV = {"TCP_NODELAY": "1"}


def dcmtk(tool: str, *args: str, cwd: Path | None = None, timeout: float = 60):
    """Run a DCMTK tool; returns the completed process (output captured as text)."""
    path = require_tool(tool, "dcmtk")
    return subprocess.run(
        [path, *args],
        cwd=cwd,
        env={**os.environ, **DCMTK_ENV},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dataset_part(data: bytes) -> bytes:
    """The bytes after preamble and File Meta group: what identity and DIMSE carry."""
    return data[dataset_offset(data) :]


def write_study(
    folder: Path,
    patient: str,
    name: str,
    date: dt.date,
    series: list[tuple[str, str, int]],
    *,
    description: str = "Research study",
) -> list[Dataset]:
    """Generated objects saved as ``<SOP Instance UID>.dcm`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = StudySpec(patient, name, date, description=description)
    datasets = make_study(spec, series, size=32, seed=f"{patient}-{name}-{date}")
    for ds in datasets:
        ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
    return datasets


def wait_until(check: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class World:
    base: Path
    cli: Cli
    token: str
    server: Server | None = None
    starts: int = 0

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.dicom_port

    def start(self, *args: str, dicom_port: int | None = None) -> Server:
        self.starts += 1
        self.server = Server(
            load_settings(self.home),
            self.base / f"serve-{self.starts}.log",
            dicom_port=dicom_port or free_port(),
            args=args,
        )
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def log(self) -> str:
        assert self.server is not None
        return self.server.log.read_text(errors="replace")

    def http(self) -> httpx.Client:
        assert self.server is not None
        return self.server.client(self.token)

    def stored_file(self, project: str, sop_uid: str) -> bytes | None:
        with self.http() as http:
            response = http.get(f"/api/projects/{project}/instances/{sop_uid}/file")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.content

    def instance_count(self, project: str, study_uid: str) -> int:
        with self.http() as http:
            response = http.get(f"/api/projects/{project}/studies/{study_uid}")
        return 0 if response.status_code == 404 else response.json()["instance_count"]

    def wait_for_instances(
        self, project: str, study_uid: str, count: int, timeout: float = 30
    ) -> None:
        wait_until(
            lambda: self.instance_count(project, study_uid) >= count,
            timeout,
            f"{count} instances of study {study_uid} in {project}",
        )
        assert self.instance_count(project, study_uid) == count

    def scu(
        self, tool: str, *args: str, calling: str, called: str, files: tuple[str, ...] = (), **kw
    ):
        """Run a DCMTK SCU against this server's DIMSE port (``files`` go last)."""
        return dcmtk(
            tool, "-aet", calling, "-aec", called, *args, "127.0.0.1", str(self.port), *files, **kw
        )


@contextmanager
def _database(base: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{base / 'home' / 'vesalius.db'}"
        return
    name = f"vt_{uuid.uuid4().hex[:16]}"
    admin_url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def world(base: Path) -> Iterator[World]:
    """An initialised home (admin token ready); the test module starts the server."""
    require_tool("storescu", "dcmtk")
    with pytest.MonkeyPatch.context() as mp, _database(base) as database_url:
        for key in list(os.environ):
            if key.startswith("VESALIUS_") and key != "VESALIUS_TEST_DATABASE_URL":
                mp.delenv(key)
        mp.setenv("VESALIUS_HOME", str(base / "home"))
        mp.setenv("VESALIUS_DATABASE_URL", database_url)
        mp.setenv("VESALIUS_IMPORT_WORKERS", "1")
        cli = Cli()
        cli("init")
        built = World(base=base, cli=cli, token=token_for(cli, "admin"))
        try:
            yield built
        finally:
            built.stop()
