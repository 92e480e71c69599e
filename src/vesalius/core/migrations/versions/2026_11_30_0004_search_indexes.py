"""Indexes for searches over every readable project (QIDO-RS, C-FIND, /metadata).

Study and series UIDs, study date, accession number, patient ID and the lower-cased
patient name, so that the study-list queries of a viewer and the lookup of a study by
UID use an index without a project in the condition. On PostgreSQL the name index uses
``text_pattern_ops`` so that a left-anchored LIKE (``PatientName=Doe*``) can use it.

Revision ID: 20261130_0004
Revises: 20261130_0003
Create Date: 2026-11-30
"""

from alembic import op

revision = "20261130_0004"
down_revision = "20261130_0003"
branch_labels = None
depends_on = None

PLAIN = [
    ("ix_subject_subject_id", "subject", "subject_id"),
    ("ix_study_study_uid", "study", "study_uid"),
    ("ix_study_study_date", "study", "study_date"),
    ("ix_study_accession_number", "study", "accession_number"),
    ("ix_series_series_uid", "series", "series_uid"),
]


def upgrade() -> None:
    for name, table, column in PLAIN:
        op.create_index(name, table, [column])
    ops = " text_pattern_ops" if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(f"CREATE INDEX ix_subject_patient_name_lower ON subject (lower(patient_name){ops})")


def downgrade() -> None:
    op.drop_index("ix_subject_patient_name_lower", table_name="subject")
    for name, table, _ in reversed(PLAIN):
        op.drop_index(name, table_name=table)
