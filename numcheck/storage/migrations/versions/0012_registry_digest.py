"""registry_versions.digest: which keyed digest a version's entries are (SipHash-2-4 from now
on; every version stored before is BLAKE2b-64 and keeps being queried with it)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry_versions") as batch_op:
        batch_op.add_column(
            sa.Column("digest", sa.String(length=16), nullable=False, server_default="blake2b-64")
        )


def downgrade() -> None:
    with op.batch_alter_table("registry_versions") as batch_op:
        batch_op.drop_column("digest")
