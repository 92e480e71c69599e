"""Who sent each object: the sender's user and site code on versions and quarantine rows.

``instance_version.actor`` and ``quarantine_item.actor`` record the user (or ``ae:TITLE``)
an object came from; ``site_code`` the site a gateway declared (``X-Vesalius-Site``), so
the central archive can tell which site sent what, and when.

Revision ID: 20261204_0008
Revises: 20261203_0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "20261204_0008"
down_revision = "20261203_0007"
branch_labels = None
depends_on = None

TABLES = ("instance_version", "quarantine_item")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("actor", sa.String(length=128), nullable=False, server_default="")
            )
            batch.add_column(sa.Column("site_code", sa.String(length=16), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("site_code")
            batch.drop_column("actor")
