"""A running ``vesalius serve`` with projects, users and data for the DICOMweb tests.

Built once per test module (starting a server and loading data takes seconds); tests
that store data use patients of their own so that they do not disturb each other.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pydicom
import pytest
from pydicom.dataset import Dataset

from vesalius.core.config import load_settings
from vesalius.core.dicom.synthetic import StudySpec, make_study, to_bytes

from conftest import PG_URL, Cli, Server, token_for

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DICOM_JSON = "application/dicom+json"
PROBLEM = "application/problem+json"
VIEWER_ORIGIN = "http://viewer.test:3000"  # a viewer (OHIF) served from another origin


def sample(name: str) -> bytes:
    """A pydicom test file, read by path (never downloaded)."""
    return (TEST_FILES / name).read_bytes()


def study(
    patient: str,
    name: str,
    date: dt.date,
    series: list[tuple[str, str, int]],
    *,
    accession: str = "",
    size: int = 64,
) -> list[Dataset]:
    spec = StudySpec(patient, name, date, description=f"Study of {patient}", accession=accession)
    return make_study(spec, series, size=size, seed=patient)


def multipart(parts: list[bytes], boundary: str = "vesalius-test-boundary") -> tuple[bytes, str]:
    body = b"".join(
        b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
        for p in parts
    )
    body += b"--" + boundary.encode() + b"--\r\n"
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def split_multipart(response: httpx.Response) -> list[tuple[dict[str, str], bytes]]:
    """Parts of a multipart/related response, parsed independently of the server's code."""
    content_type = response.headers["content-type"]
    boundary = next(
        p.split("=", 1)[1].strip('"')
        for p in (x.strip() for x in content_type.split(";"))
        if p.lower().startswith("boundary=")
    )
    body = response.content
    delimiter = b"--" + boundary.encode()
    chunks = body.split(b"\r\n" + delimiter)
    first = chunks[0]
    assert first.startswith(delimiter), "body must start with the first boundary"
    chunks[0] = first[len(delimiter) :]
    assert chunks[-1].startswith(b"--"), "body must end with the closing boundary"
    out = []
    for chunk in chunks[:-1]:
        head, _, data = chunk.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode().split("\r\n"):
            if line.strip():
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        out.append((headers, data))
    return out


@dataclass
class World:
    server: Server
    tokens: dict[str, str]
    data: dict[str, list[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, user: str | None) -> httpx.Client:
        return self.server.client(self.tokens[user] if user else None)


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
def running_world(base: Path) -> Iterator[World]:
    """Projects p1 (private) and p2; users alice (p1 contributor), mel (p1 member),
    bob (p2 member only), admin. p1 holds nothing yet; p2 holds one study."""
    with pytest.MonkeyPatch.context() as mp, _database(base) as database_url:
        for key in list(os.environ):
            if key.startswith("VESALIUS_") and key != "VESALIUS_TEST_DATABASE_URL":
                mp.delenv(key)
        home = base / "home"
        mp.setenv("VESALIUS_HOME", str(home))
        mp.setenv("VESALIUS_DATABASE_URL", database_url)
        mp.setenv("VESALIUS_CORS_ORIGINS", VIEWER_ORIGIN)
        cli = Cli()
        cli("init")
        cli("project", "create", "p1", "--name", "Trial one")
        cli("project", "create", "p2", "--name", "Trial two")
        for user in ("alice", "mel", "bob"):
            cli("user", "create", user)
        cli("grant", "alice", "p1", "contributor")
        cli("grant", "mel", "p1", "member")
        cli("grant", "bob", "p2", "member")
        folder = base / "p2-data"
        folder.mkdir()
        for ds in study("P2X", "Other^Person", dt.date(2022, 5, 5), [("MR", "Other", 1)]):
            ds.save_as(folder / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
        cli("import", "-p", "p2", str(folder), "--json")
        tokens = {user: token_for(cli, user) for user in ("admin", "alice", "mel", "bob")}
        server = Server(load_settings(home), base / "serve.log")
        try:
            yield World(server=server, tokens=tokens)
        finally:
            server.stop()


def stow(world: World, user: str, datasets: list[Dataset], study_uid: str | None = None):
    """Store datasets in p1 through STOW-RS as ``user``; returns the response."""
    body, content_type = multipart([to_bytes(ds) for ds in datasets])
    path = "/dicom-web/projects/p1/studies" + (f"/{study_uid}" if study_uid else "")
    with world.client(user) as http:
        return http.post(path, content=body, headers={"Content-Type": content_type})
