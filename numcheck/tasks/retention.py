"""Retention: after NUMCHECK_RETENTION_DAYS a task's files go and it turns `expired`.

The row stays for the ledger. A task still pending or processing by then (stuck) expires too,
and is charged nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from numcheck.states import TaskStatus
from numcheck.storage.models import Task, utcnow
from numcheck.storage.stores import Stores
from numcheck.tasks.lifecycle import TaskLifecycle

log = logging.getLogger(__name__)

_EXPIRING = (TaskStatus.EXPORTED, TaskStatus.PENDING, TaskStatus.PROCESSING)


def sweep(stores: Stores, lifecycle: TaskLifecycle, batch: int = 500) -> int:
    """Expire tasks older than the retention period; returns how many."""
    days = stores.settings.retention_days
    cutoff = utcnow() - timedelta(days=days)
    with stores.sessions.begin() as session:
        old = session.scalars(
            select(Task)
            .where(Task.created_at < cutoff, Task.status.in_(_EXPIRING))
            .limit(batch)
            .with_for_update(skip_locked=True)  # a task changing right now waits a round
        ).all()
        for task in old:
            lifecycle.expire(
                session, task, f"Files deleted after the retention period of {days:g} days."
            )
    if old:
        log.info("retention: expired %d tasks", len(old))
    return len(old)
