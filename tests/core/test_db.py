"""Schema migrations: the head matches the models, and an old home upgrades in place."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

import vesalius.core.audit
import vesalius.core.events
import vesalius.deid.intake
import vesalius.deid.vault
import vesalius.gateway.model
import vesalius.ingest.quarantine
import vesalius.studies.model
import vesalius.studies.qc.model  # noqa: F401  (registers the quarantine, deid, gateway, studies tables)
from vesalius.core.db import current_revision, head_revision, make_engine, migrate, open_database
from vesalius.core.model import Base

FIRST_REVISION = "20261130_0001"


def test_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_an_old_home_is_upgraded_and_keeps_its_data(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine, FIRST_REVISION)
    assert "outbox_event" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO project (key, name, visibility, created_at) "
                "VALUES ('old', 'Old project', 'private', '2025-01-01 00:00:00')"
            )
        )
    engine.dispose()

    db = open_database(database_url)  # what every command does on start
    tables = inspect(db.engine).get_table_names()
    assert {"outbox_event", "event_delivery", "quarantine_item"} <= set(tables)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM project WHERE key = 'old'")).scalar() == (
            "Old project"
        )
    assert current_revision(db.engine) == head_revision() != FIRST_REVISION
    db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()
