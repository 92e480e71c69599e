"""Study management: protocol versions per project and adherence results.

``study_protocol`` keeps each loaded protocol file (text and validated content) under a
version number per project; ``series_adherence`` and ``study_adherence`` hold the
current result of the adherence check per series and per study.

Revision ID: 20261203_0007
Revises: 20261202_0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261203_0007"
down_revision = "20261202_0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _project_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"],
        ["project.id"],
        name=op.f(f"fk_{table}_project_id_project"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "study_protocol",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("content", JSON, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("loaded_by", sa.String(length=200), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        _project_fk("study_protocol"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_protocol")),
        sa.UniqueConstraint(
            "project_id", "version", name=op.f("uq_study_protocol_project_id_version")
        ),
    )
    op.create_table(
        "series_adherence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("series_uid", sa.String(length=64), nullable=False),
        sa.Column("protocol_version", sa.Integer(), nullable=False),
        sa.Column("visit", sa.String(length=200), nullable=True),
        sa.Column("expected", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("violations", JSON, nullable=False),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("device_header", JSON, nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        _project_fk("series_adherence"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series_adherence")),
        sa.UniqueConstraint(
            "project_id", "series_uid", name=op.f("uq_series_adherence_project_id_series_uid")
        ),
    )
    op.create_index("ix_series_adherence_study", "series_adherence", ["project_id", "study_uid"])
    op.create_table(
        "study_adherence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("study_date", sa.String(length=8), nullable=False),
        sa.Column("protocol_version", sa.Integer(), nullable=False),
        sa.Column("visit", sa.String(length=200), nullable=True),
        sa.Column("qualification", sa.Boolean(), nullable=False),
        sa.Column("qualifies", sa.Boolean(), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("software_version", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("missing", JSON, nullable=False),
        sa.Column("flags", JSON, nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        _project_fk("study_adherence"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_adherence")),
        sa.UniqueConstraint(
            "project_id", "study_uid", name=op.f("uq_study_adherence_project_id_study_uid")
        ),
    )
    op.create_index("ix_study_adherence_subject", "study_adherence", ["project_id", "subject_id"])
    op.create_index("ix_study_adherence_device", "study_adherence", ["project_id", "device"])


def downgrade() -> None:
    op.drop_index("ix_study_adherence_device", table_name="study_adherence")
    op.drop_index("ix_study_adherence_subject", table_name="study_adherence")
    op.drop_table("study_adherence")
    op.drop_index("ix_series_adherence_study", table_name="series_adherence")
    op.drop_table("series_adherence")
    op.drop_table("study_protocol")
