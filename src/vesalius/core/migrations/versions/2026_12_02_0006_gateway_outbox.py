"""Site gateway: the durable outbox of objects to deliver, and the central re-check flag.

``gateway_item`` holds one row per de-identified object version a gateway delivers to
the central archive, with its state (queued, in_flight, delivered, failed), attempts,
next attempt time and reason; ``project.recheck_deid`` marks a (central) project that
checks what it receives for residual identifiers and quarantines what fails.

Revision ID: 20261202_0006
Revises: 20261201_0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "20261202_0006"
down_revision = "20261201_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("series_uid", sa.String(length=64), nullable=False),
        sa.Column("sop_uid", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("blob_hash", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_gateway_item_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_item")),
        sa.UniqueConstraint("event_id", name=op.f("uq_gateway_item_event_id")),
        sa.UniqueConstraint(
            "project_id",
            "sop_uid",
            "version",
            name=op.f("uq_gateway_item_project_id_sop_uid_version"),
        ),
    )
    op.create_index("ix_gateway_item_due", "gateway_item", ["state", "next_attempt_at"])
    op.create_index("ix_gateway_item_study", "gateway_item", ["project_id", "study_uid", "id"])
    with op.batch_alter_table("project") as batch:
        batch.add_column(
            sa.Column("recheck_deid", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("project") as batch:
        batch.drop_column("recheck_deid")
    op.drop_index("ix_gateway_item_study", table_name="gateway_item")
    op.drop_index("ix_gateway_item_due", table_name="gateway_item")
    op.drop_table("gateway_item")
