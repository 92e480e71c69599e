"""De-identification at intake: per-project settings, the honest-broker vault, sealed quarantine.

``deid_project`` holds a ``--deid`` project's profile and subject ID template;
``vault_subject`` and ``vault_link`` hold research subject IDs and the AES-GCM-sealed
links back to patients (looked up by keyed HMAC, never by plaintext); quarantined
objects of de-identified projects are stored sealed, which ``quarantine_item.sealed``
records.

Revision ID: 20261201_0005
Revises: 20261130_0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261201_0005"
down_revision = "20261130_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deid_project",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column(
            "profile",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("subject_id_template", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_deid_project_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_deid_project")),
    )
    op.create_table(
        "vault_subject",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("research_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("patient_hmac", sa.String(length=64), nullable=False),
        sa.Column("identity", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_vault_subject_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_subject")),
        sa.UniqueConstraint(
            "project_id", "patient_hmac", name=op.f("uq_vault_subject_project_id_patient_hmac")
        ),
        sa.UniqueConstraint(
            "project_id", "research_id", name=op.f("uq_vault_subject_project_id_research_id")
        ),
        sa.UniqueConstraint("project_id", "seq", name=op.f("uq_vault_subject_project_id_seq")),
    )
    op.create_table(
        "vault_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("research_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value_hmac", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_vault_link_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_link")),
        sa.UniqueConstraint(
            "project_id",
            "research_id",
            "kind",
            "value_hmac",
            name=op.f("uq_vault_link_project_id_research_id_kind_value_hmac"),
        ),
    )
    with op.batch_alter_table("quarantine_item") as batch:
        batch.add_column(
            sa.Column("sealed", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("quarantine_item") as batch:
        batch.drop_column("sealed")
    op.drop_table("vault_link")
    op.drop_table("vault_subject")
    op.drop_table("deid_project")
