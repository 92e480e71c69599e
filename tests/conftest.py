"""Shared fixtures: a fresh home per test, on SQLite or on a fresh PostgreSQL database.

Set ``VESALIUS_TEST_DATABASE_URL`` (for example ``postgresql://postgres@127.0.0.1:5432/test``)
to run the whole suite on PostgreSQL; each test then gets a database of its own,
created from that server and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from vesalius.cli.main import app
from vesalius.core.config import Settings, load_settings
from vesalius.core.home import Home, open_home

PG_URL = os.environ.get("VESALIUS_TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_tool(name: str, package: str) -> str:
    """Path of a system tool; skip locally (fail in CI) with the package to install."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: install the Debian package {package!r}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


S3_BUCKET = "vesalius-test"
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 endpoint (moto's server) on a free loopback port, with one bucket.

    The AWS variables are set for the whole session so that ``vesalius serve``
    processes started by tests inherit them.
    """
    import boto3
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in _AWS_ENV}
    os.environ.update(_AWS_ENV)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=S3_BUCKET)
        yield endpoint
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'home' / 'vesalius.db'}"
        return
    name = f"vt_{uuid.uuid4().hex[:16]}"
    base = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in list(os.environ):
        if key.startswith("VESALIUS_") and key != "VESALIUS_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("VESALIUS_HOME", str(home))
    monkeypatch.setenv("VESALIUS_DATABASE_URL", database_url)
    return load_settings(home)


@pytest.fixture
def home(settings: Settings) -> Iterator[Home]:
    opened = open_home(settings, create=True)
    yield opened
    opened.close()


class Cli:
    """Runs ``vesalius`` in-process against the test's home (env set by ``settings``)."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, expect: int | None = 0):
        result = self.runner.invoke(app, list(args), input=input, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (result.exit_code, result.output)
        return result


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return Cli()


class Server:
    """A real ``vesalius serve`` process on a free loopback port (DIMSE off unless given)."""

    def __init__(
        self, settings: Settings, log: Path, *, dicom_port: int = 0, args: tuple[str, ...] = ()
    ) -> None:
        self.port = free_port()
        self.dicom_port = dicom_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {
            **os.environ,
            "VESALIUS_HOME": str(settings.home),
            "VESALIUS_EVENT_INTERVAL": os.environ.get("VESALIUS_EVENT_INTERVAL", "0.2"),
        }
        if settings.database_url:
            env["VESALIUS_DATABASE_URL"] = settings.database_url
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vesalius",
                "serve",
                "--http-port",
                str(self.port),
                "--dicom-port",
                str(dicom_port),
                *args,
            ],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {log.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"serve did not start: {log.read_text()}")

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def server_factory(settings: Settings, tmp_path: Path) -> Iterator:
    servers: list[Server] = []

    def start() -> Server:
        server = Server(settings, tmp_path / f"serve-{len(servers)}.log")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def token_for(cli: Cli, user: str) -> str:
    return cli("token", "create", user).stdout.strip()
