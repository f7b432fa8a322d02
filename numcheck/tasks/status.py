"""A task's status body as the wire contract shows it (the hosted contract's exact keys) and as
numcheck's own routes, webhooks and summary.json show it (with the task's check)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from numcheck.states import TaskStatus
from numcheck.storage.models import Task

# The statuses of the hosted contract; the others are numcheck's and carry a `message`.
CONTRACT_STATUSES = frozenset({TaskStatus.PENDING, TaskStatus.PROCESSING, TaskStatus.EXPORTED})


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
        "status": str(task.status),
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
