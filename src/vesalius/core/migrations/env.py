"""Alembic environment: vesalius passes the connection in; revisions are hand-reviewed."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through vesalius.core.db
    raise RuntimeError("run migrations through vesalius.core.db.migrate")

context.configure(
    connection=connection,
    target_metadata=None,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
