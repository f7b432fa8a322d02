"""several checks in one task: task_type holds a list; the registry versions a task answers from
move to task_registry_versions (one row each), and check_facts records each check

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_registry_versions",
        sa.Column("task_id", sa.String(length=20), sa.ForeignKey("tasks.id"), primary_key=True),
        sa.Column("registry_version_id", sa.Integer(), primary_key=True),
    )
    op.create_index(
        "ix_task_registry_versions_version", "task_registry_versions", ["registry_version_id"]
    )
    connection = op.get_bind()
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.String),
        sa.column("check_facts", sa.Text),
        sa.column("registry_version_id", sa.Integer),
    )
    links = sa.table(
        "task_registry_versions",
        sa.column("task_id", sa.String),
        sa.column("registry_version_id", sa.Integer),
    )
    # check_facts was one check's {"name", facts...}: it becomes {"checks": [{"name", "facts",
    # "registry_version_id"}]}, the shape of a task of any number of checks.
    rows = connection.execute(
        sa.select(tasks.c.id, tasks.c.check_facts, tasks.c.registry_version_id)
    ).all()
    for task_id, facts, version_id in rows:
        old = json.loads(facts or "{}")
        name = old.pop("name", "")
        spec = {"name": name, "facts": old, "registry_version_id": version_id}
        connection.execute(
            tasks.update()
            .where(tasks.c.id == task_id)
            .values(check_facts=json.dumps({"checks": [spec]}))
        )
        if version_id is not None:
            connection.execute(
                links.insert().values(task_id=task_id, registry_version_id=version_id)
            )
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index("ix_tasks_registry_version_id")
        batch_op.drop_column("registry_version_id")
        batch_op.alter_column(
            "task_type", existing_type=sa.String(length=64), type_=sa.String(length=300)
        )


def downgrade() -> None:
    """Back to one check a task: a task of several keeps its first check's facts."""
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.alter_column(
            "task_type", existing_type=sa.String(length=300), type_=sa.String(length=64)
        )
        batch_op.add_column(sa.Column("registry_version_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_tasks_registry_version_id", ["registry_version_id"], unique=False)
    connection = op.get_bind()
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.String),
        sa.column("check_facts", sa.Text),
        sa.column("registry_version_id", sa.Integer),
    )
    for task_id, facts in connection.execute(sa.select(tasks.c.id, tasks.c.check_facts)).all():
        first = (json.loads(facts or "{}").get("checks") or [{}])[0]
        connection.execute(
            tasks.update()
            .where(tasks.c.id == task_id)
            .values(
                check_facts=json.dumps({"name": first.get("name", ""), **first.get("facts", {})}),
                registry_version_id=first.get("registry_version_id"),
            )
        )
    op.drop_index("ix_task_registry_versions_version", table_name="task_registry_versions")
    op.drop_table("task_registry_versions")
