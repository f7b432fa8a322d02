"""webhook_deliveries.lease_token and leased_until: one server at a time attempts a delivery

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch_op:
        batch_op.add_column(sa.Column("lease_token", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("leased_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch_op:
        batch_op.drop_column("leased_until")
        batch_op.drop_column("lease_token")
