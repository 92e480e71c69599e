"""Central archive and site gateways as real processes on loopback, for the gateway tests.

A *central* is ``vesalius serve`` on a fixed port (so that it can be stopped and started
again at the same URL while gateways deliver to it), optionally over HTTPS. A *site* is a
gateway home of its own (its own database: a SQLite file, or a fresh PostgreSQL database
when ``VESALIUS_TEST_DATABASE_URL`` is set) with a ``--deid`` project and a fixed project
key, and ``vesalius gateway`` runs as a process on it. Objects are the planted-identifier
CTs of ``tests/deid/deid_corpus.py``, so its oracle can search the central archive.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deid"))

from deid_corpus import KEY, A, B, Corpus, _ct
from test_intake import leaks_in_bytes, leaks_in_home, leaks_in_index

from vesalius.cli.main import app
from vesalius.core.db import open_database
from vesalius.gateway.model import GatewayItem

from conftest import PG_URL, free_port

PROJECT = "trial"
__all__ = ["KEY", "Corpus", "leaks_in_bytes", "leaks_in_home", "leaks_in_index"]


def site_corpus(count: int) -> Corpus:
    """``count`` CT objects of the corpus's two patients, identifiers planted everywhere."""
    corpus = Corpus()
    for i in range(count):
        patient = A if i % 2 == 0 else B
        study = (i // 2) % 2 if patient is A else 0
        corpus.add(f"ct{i:04d}", _ct(patient, study, 1 + i % 3, i, graphics=False))
    return corpus


@pytest.fixture
def make_database(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A database URL of its own for each extra home (fresh PostgreSQL database or SQLite)."""
    created: list[str] = []
    base = (PG_URL or "").replace("postgresql+psycopg://", "postgresql://")

    def make(name: str) -> str:
        if not PG_URL:
            return f"sqlite:///{tmp_path / name / 'vesalius.db'}"
        db = f"vt_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        created.append(db)
        return base.rsplit("/", 1)[0] + "/" + db

    yield make
    for db in created:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def run_cli(home: Path, database_url: str, *args: str, input: str | None = None) -> str:
    """``vesalius --home HOME ARGS`` in-process, on that home's own database."""
    result = CliRunner().invoke(
        app,
        ["--home", str(home), *args],
        input=input,
        env={"VESALIUS_DATABASE_URL": database_url},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, (args, result.exit_code, result.output)
    return result.stdout


def write_secret(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, data)
    os.close(fd)
    return path


class Central:
    """``vesalius serve`` of the test's home on a fixed port; stop and start keep the URL."""

    def __init__(self, home: Path, database_url: str, log_dir: Path, *, tls: tuple = ()) -> None:
        self.home = home
        self.database_url = database_url
        self.log_dir = log_dir
        self.port = free_port()
        self.tls = tls  # (cert, key, ca) for HTTPS
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.runs = 0

    def start(self, timeout: float = 30) -> None:
        args = ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])] if self.tls else []
        env = {
            **os.environ,
            "VESALIUS_HOME": str(self.home),
            "VESALIUS_DATABASE_URL": self.database_url,
        }
        log = self.log_dir / f"central-{self.runs}.log"
        self.runs += 1
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vesalius", "serve", "--http-port", str(self.port),
             "--dicom-port", "0", *args],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        verify = ssl.create_default_context(cafile=str(self.tls[2])) if self.tls else True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {log.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1, verify=verify).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"serve did not start: {log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.log_dir.glob("central-*.log"))


@dataclass
class Site:
    """A gateway home and, while running, its ``vesalius gateway`` process."""

    name: str
    home: Path
    database_url: str
    token_file: Path
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None
    runs: int = 0

    @classmethod
    def create(
        cls,
        root: Path,
        name: str,
        database_url: str,
        token: str,
        *,
        key: bytes,
        project_args: tuple[str, ...] = (),
    ) -> Site:
        """Home, fixed project key (the oracle needs one: see test_intake.fixed_key), and
        a ``--deid`` project that any calling AE title may store into."""
        home = root / name
        home.mkdir(mode=0o700)
        write_secret(home / "secrets" / "projects" / f"{PROJECT}.key", key)
        run_cli(home, database_url, "init")
        run_cli(
            home, database_url, "project", "create", PROJECT, "--deid", "--accept-unknown-ae",
            *project_args,
        )  # fmt: skip
        token_file = write_secret(root / f"{name}.token", token + "\n")
        return cls(name, home, database_url, token_file)

    def start(self, central: str, *args: str) -> None:
        if args:
            self.args = list(args)
        env = {
            **os.environ,
            "VESALIUS_HOME": str(self.home),
            "VESALIUS_DATABASE_URL": self.database_url,
        }
        log = self.home.parent / f"{self.name}-gateway-{self.runs}.log"
        self.runs += 1
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vesalius", "--home", str(self.home), "gateway",
             "--central", central, "--project", PROJECT, "--token-file", str(self.token_file),
             *self.args],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a power cut or the OOM killer would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def logs(self) -> str:
        return "".join(
            p.read_text(errors="replace")
            for p in self.home.parent.glob(f"{self.name}-gateway-*.log")
        )

    def counts(self) -> dict[str, int]:
        """Outbox rows by state, read directly (fast enough to poll)."""
        db = open_database(self.database_url, upgrade=False)
        try:
            with db.read() as session:
                rows = session.execute(
                    select(GatewayItem.state, func.count(GatewayItem.id)).group_by(
                        GatewayItem.state
                    )
                ).all()
        finally:
            db.dispose()
        return {state: count for state, count in rows}

    def status(self) -> dict:
        """``vesalius gateway status --json`` as an operator runs it."""
        return json.loads(run_cli(self.home, self.database_url, "gateway", "status", "--json"))


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate for 127.0.0.1/localhost signed by it (tests' PKI):
    (certificate, key (0600), CA certificate)."""
    from tls_pki import Authority

    server = (ca := Authority(folder, "vesalius test CA")).issue("127.0.0.1")
    return server.cert, server.key, ca.cert


def open_site_home(site: Site):
    """The site's home opened in the test process (for an in-process delivery worker)."""
    from vesalius.core.config import load_settings
    from vesalius.core.home import open_home

    return open_home(load_settings(site.home, database_url=site.database_url))


def receive_objects(home, corpus: Corpus) -> None:
    """Objects into the site's ``--deid`` project through the intake chain (as C-STORE)."""
    from vesalius.ingest.context import IntakeContext
    from vesalius.ingest.pipeline import receive
    from vesalius.ingest.spool import Spool

    spool = Spool.for_home(home.settings)
    context = IntakeContext(source="c-store", actor="ae:CT1", project_key=PROJECT)
    for data in corpus.objects.values():
        receive(home.db, home.store, spool, context, data)
