"""Visit reminders and deviation notices: one row per event and recipient.

``visit_notification`` is unique on (project, kind, subject, ref, recipient), so a
re-run or a second node never sends the same notice twice; a failed one keeps its
reason and is retried by the next run.

Revision ID: 20261130_0010
Revises: 20261130_0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "20261130_0010"
down_revision = "20261130_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visit_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_visit_notification_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_notification")),
        sa.UniqueConstraint(
            "project_id",
            "kind",
            "subject_id",
            "ref",
            "recipient",
            name=op.f("uq_visit_notification_project_id_kind_subject_id_ref_recipient"),
        ),
    )
    op.create_index("ix_visit_notification_status", "visit_notification", ["project_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_visit_notification_status", table_name="visit_notification")
    op.drop_table("visit_notification")
