"""registry_versions.key_check: which registry key hashed a version

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry_versions") as batch_op:
        batch_op.add_column(sa.Column("key_check", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registry_versions") as batch_op:
        batch_op.drop_column("key_check")
