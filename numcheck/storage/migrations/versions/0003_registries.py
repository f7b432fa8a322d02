"""registries, their versions and grants; tasks.registry_version_id

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registries",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("current_version_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "registry_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("registry_versions") as batch_op:
        batch_op.create_index("ix_registry_versions_name_version", ["name", "version"], unique=True)
    op.create_table(
        "registry_grants",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("name", "user_id"),
    )
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("registry_version_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_tasks_registry_version_id", ["registry_version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index("ix_tasks_registry_version_id")
        batch_op.drop_column("registry_version_id")
    op.drop_table("registry_grants")
    with op.batch_alter_table("registry_versions") as batch_op:
        batch_op.drop_index("ix_registry_versions_name_version")
    op.drop_table("registry_versions")
    op.drop_table("registries")
