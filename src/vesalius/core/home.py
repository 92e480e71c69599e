"""A vesalius home opened for use: its settings, database and storage area.

Both the CLI and ``serve`` start here. Opening a home upgrades its database schema, so
a newer vesalius on an older home just works; creating one sets up the folders with
owner-only permissions, because spool and secrets may hold PHI and keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vesalius.core.config import Settings
from vesalius.core.db import Database, open_database
from vesalius.core.errors import ConfigError
from vesalius.core.storage import BlobStore, open_store


@dataclass(frozen=True)
class Home:
    settings: Settings
    db: Database
    store: BlobStore

    def close(self) -> None:
        self.db.dispose()


def create_home_folders(settings: Settings) -> None:
    for folder in (settings.home, settings.spool_dir, settings.secrets_dir):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)


def open_home(settings: Settings, *, create: bool = False) -> Home:
    if create:
        create_home_folders(settings)
    elif not settings.home.is_dir():
        raise ConfigError(f"no vesalius home at {settings.home}; run `vesalius init` first")
    db = open_database(settings.resolved_database_url)
    store = open_store(settings.resolved_storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    return Home(settings=settings, db=db, store=store)


def write_secret(path: Path, value: str) -> None:
    """Write a secret readable by the owner only (created 0600, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    os.chmod(path, 0o600)
