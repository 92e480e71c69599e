"""Registered modalities (DIMSE principals), unknown-AE policy, series performed dates.

Revision ID: 20261130_0003
Revises: 20261130_0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "20261130_0003"
down_revision = "20261130_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "modality",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("ae_title", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_modality_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modality")),
        sa.UniqueConstraint("name", name=op.f("uq_modality_name")),
        sa.UniqueConstraint("project_id", "ae_title", name=op.f("uq_modality_project_id_ae_title")),
    )
    with op.batch_alter_table("project") as batch:
        batch.add_column(
            sa.Column("accept_unknown_ae", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("series") as batch:
        batch.add_column(
            sa.Column(
                "performed_start_date", sa.String(length=8), nullable=False, server_default=""
            )
        )
        batch.add_column(
            sa.Column(
                "performed_start_time", sa.String(length=16), nullable=False, server_default=""
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("series") as batch:
        batch.drop_column("performed_start_time")
        batch.drop_column("performed_start_date")
    with op.batch_alter_table("project") as batch:
        batch.drop_column("accept_unknown_ae")
    op.drop_table("modality")
