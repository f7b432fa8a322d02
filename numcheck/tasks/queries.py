"""Reading and listing a user's tasks; another user's task is as unknown as a made-up id."""

from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from numcheck import errors, ids
from numcheck.states import TaskStatus
from numcheck.storage.models import Task

# Built once: every status call reads a task this way (see keys._KEY_AND_USER).
_OWNED = select(Task).where(Task.id == bindparam("task_id"), Task.user_id == bindparam("user_id"))
_OWNED_FOR_UPDATE = _OWNED.with_for_update()


def get_owned(session: Session, user_id: str, task_id: str, *, for_update: bool = False) -> Task:
    """The task `task_id` of `user_id`; another user's task is as unknown as a made-up id.

    `for_update` locks the row, for reading a status in order to change it.
    """
    if not ids.is_task_id(task_id):  # a NUL or such never reaches the database (PostgreSQL
        raise errors.TaskNotFound()  # would refuse the statement itself)
    query = _OWNED_FOR_UPDATE if for_update else _OWNED
    task = session.scalars(query, {"task_id": task_id, "user_id": user_id}).one_or_none()
    if task is None:
        raise errors.TaskNotFound()
    return task


def trace_context(session: Session, task_id: str) -> str | None:
    """The stored trace context of the request that created the task (None: none stored)."""
    return session.scalar(select(Task.trace_context).where(Task.id == task_id))


def get_any(session: Session, task_id: str) -> Task:
    """Any user's task, locked for a change of status (administrators only)."""
    if not ids.is_task_id(task_id):
        raise errors.TaskNotFound()
    task = session.get(Task, task_id, with_for_update=True)
    if task is None:
        raise errors.TaskNotFound()
    return task


def _encode_cursor(task: Task) -> str:
    raw = f"{task.created_at.isoformat()}|{task.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, task_id = raw.split("|")
        if not ids.is_task_id(task_id):
            raise ValueError(task_id)
        return datetime.fromisoformat(created), task_id
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidRequest("The cursor is not one this server handed out.") from None


def parse_statuses(text: str | None) -> frozenset[TaskStatus]:
    """`status=` of the list route: one status or several, comma-separated; empty means all."""
    if not text:
        return frozenset()
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    if wanted - {str(s) for s in TaskStatus}:
        raise errors.InvalidRequest(
            f"status is one of {', '.join(str(s) for s in TaskStatus)}, or several of them "
            "separated by commas."
        )
    return frozenset(TaskStatus(part) for part in wanted)


def list_owned(
    session: Session,
    user_id: str,
    *,
    limit: int,
    cursor: str | None,
    statuses: frozenset[TaskStatus] = frozenset(),
    task_type: str | None = None,
) -> tuple[list[Task], str | None]:
    """A page of the user's tasks, newest first, and the cursor of the next page (or None);
    only tasks in `statuses` when it is not empty, and of `task_type` when given."""
    query = select(Task).where(Task.user_id == user_id)
    if statuses:
        query = query.where(Task.status.in_(sorted(statuses)))
    if task_type:
        query = query.where(Task.task_type == task_type.strip())
    if cursor:
        created, task_id = _decode_cursor(cursor)
        query = query.where(
            or_(Task.created_at < created, and_(Task.created_at == created, Task.id < task_id))
        )
    rows = list(
        session.scalars(query.order_by(Task.created_at.desc(), Task.id.desc()).limit(limit + 1))
    )
    if len(rows) > limit:
        return rows[:limit], _encode_cursor(rows[limit - 1])
    return rows, None
