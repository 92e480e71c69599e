"""The studies tables: the migrated schema is exactly the models (SQLite and PostgreSQL)."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import vesalius.core.audit
import vesalius.core.events
import vesalius.deid.intake
import vesalius.deid.vault
import vesalius.gateway.model
import vesalius.ingest.quarantine
import vesalius.studies.model
import vesalius.studies.qc.model  # noqa: F401  (registers every table on Base)
from vesalius.core.db import make_engine, migrate
from vesalius.core.model import Base


def test_studies_migration_builds_exactly_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    assert {"study_protocol", "series_adherence", "study_adherence", "series_qc"} <= set(
        inspect(engine).get_table_names()
    )
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    engine.dispose()
