"""The one place a task changes state, each change with everything that goes with it: credits
(charged or released, in the same transaction), files (deleted once that transaction commits)
and the webhook owed to the task's callback_url (in the same transaction).

    start    pending            -> processing   its first chunk begins
    export   processing         -> exported     the zip is written: charge success, release rest
    fail     pending/processing -> failed       a chunk failed too often: release everything
    cancel   pending/processing -> cancelled    its owner or an administrator: release everything
    expire   any but expired    -> expired      retention, or the owner deleting a finished task

The caller's query must have locked the task row (FOR UPDATE): a worker or another server
changing it meanwhile would otherwise be overwritten.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from numcheck.accounts import credits
from numcheck.registries import versions as registry_versions
from numcheck.states import TaskStatus
from numcheck.storage import blobs as blob_keys
from numcheck.storage import db
from numcheck.storage.models import Task, utcnow
from numcheck.storage.stores import Stores
from numcheck.tasks import catalog, webhooks
from numcheck.telemetry import metrics

log = logging.getLogger(__name__)


class TaskLifecycle:
    def __init__(self, stores: Stores) -> None:
        self._stores = stores

    def start(self, task: Task) -> None:
        """Its first chunk begins: pending -> processing (any later chunk changes nothing)."""
        if task.status == TaskStatus.PENDING:
            task.status, task.updated_at = TaskStatus.PROCESSING, utcnow()

    def export(self, session: Session, task: Task, *, at: datetime) -> None:
        """The result zip is written: charge the lines that got an answer and release the rest,
        once; the upload and the chunk parts go after the commit."""
        assert task.status == TaskStatus.PROCESSING, task.status
        task.status, task.updated_at, task.finalize_leased_until = TaskStatus.EXPORTED, at, None
        # One credit a line that got an answer, for each check that answered it.
        per_line = task.check_count
        credits.charge_export(
            session, task.user_id, task.id, task.total * per_line, task.success * per_line
        )
        webhooks.owe(session, task)
        task_id, registries = task.id, bool(catalog.registry_version_ids(task.check_facts))
        db.after_commit(session, lambda: self._delete_work(task_id, registries))
        db.after_commit(session, metrics.TASKS_FINISHED.labels(task.task_type, "exported").inc)
        log.info("task exported task_id=%s", task.id)

    def fail(self, session: Session, task: Task, message: str) -> None:
        """Stopped by numcheck (a poison chunk): nothing is charged."""
        if task.status.is_active:
            self._end(session, task, TaskStatus.FAILED, message)

    def cancel(self, session: Session, task: Task, *, by: str) -> None:
        """Stopped by a person before it finished: nothing is charged."""
        if task.status.is_active:
            self._end(session, task, TaskStatus.CANCELLED, f"Cancelled by {by}.")

    def expire(self, session: Session, task: Task, message: str) -> None:
        """Its files go for good: after the retention period, or when its owner deletes a
        finished task. A task still active by then (stuck) is charged nothing."""
        if task.status != TaskStatus.EXPIRED:
            self._end(session, task, TaskStatus.EXPIRED, message)

    def stop(self, session: Session, task: Task, *, by: str) -> None:
        """What DELETE of a task means: cancel an active one, delete a finished one's files."""
        if task.status.is_active:
            self.cancel(session, task, by=by)
        elif task.status == TaskStatus.EXPORTED:
            self.expire(session, task, f"Results deleted by {by}.")

    def _end(self, session: Session, task: Task, status: TaskStatus, message: str) -> None:
        if task.status.is_active:  # its reservation is still held; it finishes now
            credits.release(session, task.user_id, task.id, task.total * task.check_count)
            finished = metrics.TASKS_FINISHED.labels(task.task_type, str(status))
            db.after_commit(session, finished.inc)
        task.status, task.message, task.updated_at = status, message, utcnow()
        webhooks.owe(session, task)
        task_id, registries = task.id, bool(catalog.registry_version_ids(task.check_facts))
        db.after_commit(session, lambda: self._delete_files(task_id, registries))

    def _delete_work(self, task_id: str, registries: bool) -> None:
        """An exported task's upload and chunk parts; its result stays."""
        self._stores.blobs.delete_prefix(blob_keys.parts_prefix(task_id))
        self._stores.blobs.delete(blob_keys.upload_key(task_id))
        self._collect_registry_versions(registries)

    def _delete_files(self, task_id: str, registries: bool) -> None:
        """Every blob of an ended task: its upload, chunk parts and result."""
        self._stores.blobs.delete(blob_keys.upload_key(task_id))
        self._stores.blobs.delete_prefix(blob_keys.parts_prefix(task_id))
        self._stores.blobs.delete(blob_keys.result_key(task_id))
        self._collect_registry_versions(registries)

    def _collect_registry_versions(self, registries: bool) -> None:
        if registries:  # a replaced version may have waited for this task
            registry_versions.collect_unused(self._stores)
