"""tasks.result_format and tasks.include_failed: how a task's results are written

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(
            sa.Column("result_format", sa.String(length=8), nullable=False, server_default="csv")
        )
        batch_op.add_column(
            sa.Column("include_failed", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("include_failed")
        batch_op.drop_column("result_format")
