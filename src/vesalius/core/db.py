"""Engine, sessions and schema migrations for SQLite (embedded) and PostgreSQL.

Every process that opens a home calls :func:`open_database`, which upgrades the schema
to the newest Alembic revision first: upgrading vesalius upgrades existing homes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from vesalius.core.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
PG_MIGRATION_LOCK = 0x7665_7361  # "vesa": one migrating process at a time


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the settings each backend needs to be safe under load."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 60, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets readers run beside the writer; synchronous=FULL makes a committed
            # transaction survive power loss, which "acknowledge only what is durable" needs.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the write lock at BEGIN so that two of them queue on the busy
            # timeout instead of failing when a read snapshot turns out stale; readers
            # stay deferred so that they never wait for a writer (WAL).
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        # let SQLAlchemy's "begin" event, not pysqlite, emit BEGIN
        @event.listens_for(engine, "connect", insert=True)
        def _no_autobegin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, **kwargs)
    raise ConfigError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r}")


def alembic_config(connection: Any | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision``; cheap when it is already there."""
    if revision == "head" and current_revision(engine) == head_revision():
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(conn), revision)


SessionFactory = Callable[[], Session]


@dataclass(frozen=True)
class Database:
    """An engine with two session factories: ``read`` for queries, ``write`` for changes."""

    engine: Engine
    read: sessionmaker[Session]
    write: sessionmaker[Session]

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, upgrade: bool = True) -> Database:
    engine = make_engine(url)
    if upgrade:
        migrate(engine)
    writer = engine.execution_options(sqlite_begin="IMMEDIATE")
    return Database(
        engine=engine,
        read=sessionmaker(engine, expire_on_commit=False),
        write=sessionmaker(writer, expire_on_commit=False),
    )
