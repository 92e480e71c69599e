"""Outgoing TLS for registered modalities: C-MOVE sub-associations over TLS.

``tls`` turns it on; ``tls_ca`` is the CA file to verify the modality's certificate
against (NULL: the system's CAs); ``tls_cert``/``tls_key`` a client certificate to
present. Paths only: the key material stays in its (0600) file.

Revision ID: 20261130_0011
Revises: 20261130_0010
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "20261130_0011"
down_revision = "20261130_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("modality") as batch:
        batch.add_column(sa.Column("tls", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("tls_ca", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("tls_cert", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("tls_key", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("modality") as batch:
        batch.drop_column("tls_key")
        batch.drop_column("tls_cert")
        batch.drop_column("tls_ca")
        batch.drop_column("tls")
