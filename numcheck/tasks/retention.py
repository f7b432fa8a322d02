"""Retention: after NUMCHECK_RETENTION_DAYS a task's files go and it turns `expired`.

The row stays for the ledger. A task still pending or processing by then (stuck) expires too,
and its reserved credits are released: it is charged nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from numcheck.accounts import credits
from numcheck.storage.models import Task, utcnow
from numcheck.storage.stores import Stores
from numcheck.tasks import records

log = logging.getLogger(__name__)


def sweep(stores: Stores, batch: int = 500) -> int:
    """Expire tasks older than the retention period; returns how many."""
    days = stores.settings.retention_days
    cutoff = utcnow() - timedelta(days=days)
    with stores.sessions.begin() as session:
        old = list(
            session.scalars(
                select(Task)
                .where(
                    Task.created_at < cutoff,
                    Task.status.in_(("exported", "pending", "processing")),
                )
                .limit(batch)
                .with_for_update(skip_locked=True)  # a task changing right now waits a round
            )
        )
        for task in old:
            if task.status in records.ACTIVE:
                credits.release(session, task.user_id, task.id, task.total)
            task.status, task.updated_at = "expired", utcnow()
            task.message = f"Files deleted after the retention period of {days:g} days."
        expired = [(task.id, task.registry_version_id) for task in old]
    for task_id, registry_version_id in expired:
        records.release(stores, task_id, registry_version_id)
    if expired:
        log.info("retention: expired %d tasks", len(expired))
    return len(expired)
