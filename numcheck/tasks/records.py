"""Reading, listing and cancelling a user's tasks; the status body of the wire contract."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from numcheck import errors, ids
from numcheck.accounts import credits
from numcheck.registries import versions as registry_versions
from numcheck.storage import blobs as blob_keys
from numcheck.storage.blobs import BlobStore
from numcheck.storage.models import Task, utcnow
from numcheck.storage.stores import Stores

ACTIVE = ("pending", "processing")
TERMINAL = ("exported", "failed", "cancelled", "expired")


# The statuses of the hosted contract; the others are numcheck's and carry a `message`.
CONTRACT_STATUSES = ("pending", "processing", "exported")


def rfc3339(moment: datetime) -> str:
    """`2025-11-21T08:27:09.933Z`: RFC 3339, UTC, with Z, milliseconds — the contract's form
    (fixed-pattern parsers such as Java's `.SSSX` refuse six digits)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def contract_body(task: Task) -> dict[str, Any]:
    """The task exactly as the hosted contract's `POST /v1/gettasks` returns it, without the
    result link: strict deserializers refuse any other key."""
    body: dict[str, Any] = {
        "created_at": rfc3339(task.created_at),
        "updated_at": rfc3339(task.updated_at),
        "task_id": task.id,
        "user_id": task.user_id,
        "status": task.status,
        "total": task.total,
        "success": task.success,
        "failure": task.failure,
    }
    if task.message and task.status not in CONTRACT_STATUSES:
        body["message"] = task.message
    return body


def status_body(task: Task) -> dict[str, Any]:
    """The extended status (numcheck's own routes, webhooks, summary.json): the contract's keys
    plus `task_type` and any `message`."""
    body = contract_body(task)
    body["task_type"] = task.task_type
    if task.message:
        body["message"] = task.message
    return body


def get_owned(session: Session, user_id: str, task_id: str, *, for_update: bool = False) -> Task:
    """The task `task_id` of `user_id`; another user's task is as unknown as a made-up id.

    `for_update` locks the row, for reading a status in order to change it.
    """
    if not ids.is_task_id(task_id):  # a NUL or such never reaches the database (PostgreSQL
        raise errors.TaskNotFound()  # would refuse the statement itself)
    query = select(Task).where(Task.id == task_id, Task.user_id == user_id)
    task = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if task is None:
        raise errors.TaskNotFound()
    return task


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


def list_owned(
    session: Session, user_id: str, *, limit: int, cursor: str | None
) -> tuple[list[Task], str | None]:
    """A page of the user's tasks, newest first, and the cursor of the next page (or None)."""
    query = select(Task).where(Task.user_id == user_id)
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


def cancel_or_delete(session: Session, user_id: str, task_id: str) -> Task:
    """Cancel an active task, or retire a finished one whose files are to go (caller commits,
    then calls `release`)."""
    return stop(session, get_owned(session, user_id, task_id, for_update=True), by="its owner")


def stop(session: Session, task: Task, *, by: str) -> Task:
    """Cancel an active task (releasing its credits), or retire a finished one (caller commits,
    then calls `release`). `by` says who, for the task's message. The task row must have been
    read FOR UPDATE: a worker or an export changing it meanwhile would otherwise be overwritten.
    """
    if task.status in ACTIVE:
        task.status, task.message = "cancelled", f"Cancelled by {by}."
        credits.release(session, task.user_id, task.id, task.total)
    elif task.status == "exported":
        task.status, task.message = "expired", f"Results deleted by {by}."
    task.updated_at = utcnow()
    return task


def delete_files(blobs: BlobStore, task_id: str) -> None:
    """Remove every blob of a task: its upload, chunk parts and result."""
    blobs.delete(blob_keys.upload_key(task_id))
    blobs.delete_prefix(blob_keys.parts_prefix(task_id))
    blobs.delete(blob_keys.result_key(task_id))


def release(stores: Stores, task_id: str, registry_version_id: int | None) -> None:
    """After a task stopped for good (cancelled, failed, deleted): its files, and the registry
    version it kept alive, go."""
    delete_files(stores.blobs, task_id)
    if registry_version_id is not None:
        registry_versions.collect_unused(stores)
