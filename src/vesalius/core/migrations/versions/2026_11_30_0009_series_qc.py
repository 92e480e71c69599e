"""Automated QC: ``series_qc`` holds the current QC result of each stable series.

Revision ID: 20261130_0009
Revises: 20261204_0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261130_0009"
down_revision = "20261204_0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "series_qc",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("series_uid", sa.String(length=64), nullable=False),
        sa.Column("protocol_version", sa.Integer(), nullable=True),
        sa.Column("expected", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("checks", JSON, nullable=False),
        sa.Column("findings", JSON, nullable=False),
        sa.Column("pixel_seconds", sa.Float(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_series_qc_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series_qc")),
        sa.UniqueConstraint(
            "project_id", "series_uid", name=op.f("uq_series_qc_project_id_series_uid")
        ),
    )
    op.create_index("ix_series_qc_study", "series_qc", ["project_id", "study_uid"])
    op.create_index("ix_series_qc_status", "series_qc", ["project_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_series_qc_status", table_name="series_qc")
    op.drop_index("ix_series_qc_study", table_name="series_qc")
    op.drop_table("series_qc")
