"""Who holds which job: the leases on chunks and finalize steps, one method per change.

A job is only a wake-up: whoever runs it asks the database whether the work is still wanted.
`claim` leases due jobs for `chunk_lease_seconds`, each under a fresh token; the worker running
one renews it every quarter of that (`renew`, its heartbeat), so a job in hand keeps its lease
however long it runs, while the job of a worker that died (no heartbeat) or of a lost message
is claimed again within about one lease. `hand_back` makes a job due again at once. A chunk
claimed `max_attempts` times fails its task instead of looping forever.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import assert_never

from sqlalchemy import Update, func, or_, select, update

from numcheck.states import ACTIVE, ChunkStatus, JobKind, TaskStatus
from numcheck.storage import db
from numcheck.storage.models import Chunk, Task, utcnow
from numcheck.storage.stores import Stores
from numcheck.tasks.jobs import Job
from numcheck.tasks.lifecycle import TaskLifecycle
from numcheck.telemetry import metrics

log = logging.getLogger(__name__)


class Leases:
    def __init__(self, stores: Stores, lifecycle: TaskLifecycle) -> None:
        self._stores = stores
        self._lifecycle = lifecycle

    def claim(self, limit: int) -> list[Job]:
        """Lease up to `limit` due jobs, oldest tasks first, finalize steps before chunks; a
        chunk out of attempts fails its task instead (and is not returned)."""
        settings = self._stores.settings
        now = utcnow()
        until = self._lease_end(now)
        jobs: list[Job] = []
        failed: set[str] = set()
        expired: list[JobKind] = []  # leases that ran out: their worker died or lost the job
        with self._stores.sessions.begin() as session:
            finishing = session.scalars(
                select(Task)
                .where(
                    Task.status == TaskStatus.PROCESSING,
                    Task.chunks_done == Task.chunk_count,
                    or_(Task.finalize_leased_until.is_(None), Task.finalize_leased_until < now),
                )
                .order_by(Task.created_at)
                .limit(limit)
                .with_for_update(skip_locked=True)  # several servers may sweep at once
            )
            for task in finishing:
                if task.finalize_leased_until is not None:
                    expired.append(JobKind.FINALIZE)
                task.finalize_lease_token, task.finalize_leased_until = _token(), until
                jobs.append(Job(JobKind.FINALIZE, task.id, -1, task.finalize_lease_token))
            due = session.execute(
                select(Chunk, Task)
                .join(Task, Task.id == Chunk.task_id)
                .where(
                    Chunk.status == ChunkStatus.PENDING,
                    or_(Chunk.leased_until.is_(None), Chunk.leased_until < now),
                    Task.status.in_(ACTIVE),
                )
                .order_by(Task.created_at, Chunk.task_id, Chunk.idx)
                .limit(max(limit - len(jobs), 0))
                # Task rows too: running out of attempts fails the task.
                .with_for_update(skip_locked=True, of=[Chunk, Task])
            )
            for chunk, task in due:
                if task.id in failed:
                    continue
                if chunk.attempts >= settings.chunk_max_attempts:
                    self._lifecycle.fail(
                        session,
                        task,
                        f"Chunk {chunk.idx} failed {chunk.attempts} times; the task was stopped "
                        "and nothing is charged. Retry later or contact the operator.",
                    )
                    log.error(
                        "task failed task_id=%s chunk=%s attempts=%s",
                        task.id,
                        chunk.idx,
                        chunk.attempts,
                    )
                    failed.add(task.id)
                    continue
                chunk.attempts += 1
                if chunk.leased_until is not None:
                    expired.append(JobKind.CHUNK)
                chunk.lease_token, chunk.leased_until = _token(), until
                jobs.append(Job(JobKind.CHUNK, chunk.task_id, chunk.idx, chunk.lease_token))
        for kind in expired:  # committed: these leases are now the new dispatch's
            metrics.LEASES_EXPIRED.labels(str(kind)).inc()
        return [job for job in jobs if job.task_id not in failed]

    def renew(self, job: Job) -> bool:
        """Extend the lease of a job in hand to a whole lease from now: the heartbeat of the
        worker running it. Only a lease that is still this dispatch's is extended; False when
        the job is done, was handed back or was dispatched again meanwhile."""
        until = self._lease_end(utcnow())
        renewal = self._still_mine(job).values(**_lease_columns(job.kind, until))
        with self._stores.sessions.begin() as session:
            renewed = db.rowcount(session.execute(renewal)) > 0
        if renewed:
            metrics.LEASES_RENEWED.labels(str(job.kind)).inc()
        return renewed

    def hand_back(self, job: Job, *, spent: bool) -> None:
        """Make a job due again at once. `spent`: it ran and died, so its attempt counts; else
        it never reached a worker (the broker was down) and a broker outage must not use up a
        chunk's attempts."""
        with self._stores.sessions.begin() as session:
            values = _lease_columns(job.kind, None)
            if job.kind == JobKind.CHUNK and not spent:
                values["attempts"] = Chunk.attempts - 1
            session.execute(self._still_mine(job, handed_back_too=True).values(**values))

    def in_flight(self) -> int:
        """Jobs leased and not finished: queued for, or running at, a worker."""
        now = utcnow()
        with self._stores.sessions.begin() as session:
            chunks = session.scalar(
                select(func.count())
                .select_from(Chunk)
                .join(Task, Task.id == Chunk.task_id)
                .where(
                    Chunk.status == ChunkStatus.PENDING,
                    Chunk.leased_until > now,
                    Task.status.in_(ACTIVE),  # a cancelled task's leases hold no worker
                )
            )
            finishing = session.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.status == TaskStatus.PROCESSING, Task.finalize_leased_until > now)
            )
        return int(chunks or 0) + int(finishing or 0)

    def free_all(self) -> None:
        """After a restart of the embedded server nothing holds a lease: all work is due now."""
        with self._stores.sessions.begin() as session:
            session.execute(
                update(Chunk).where(Chunk.status == ChunkStatus.PENDING).values(leased_until=None)
            )
            session.execute(
                update(Task)
                .where(Task.status == TaskStatus.PROCESSING)
                .values(finalize_leased_until=None)
            )

    def _still_mine(self, job: Job, *, handed_back_too: bool = False) -> Update:
        """An UPDATE of the job's lease that matches only while it is this dispatch's: same
        token, work not done, and (unless `handed_back_too`) not handed back."""
        match job.kind:
            case JobKind.CHUNK:
                statement = update(Chunk).where(
                    Chunk.task_id == job.task_id,
                    Chunk.idx == job.idx,
                    Chunk.lease_token == job.lease_token,
                    Chunk.status == ChunkStatus.PENDING,
                )
                return (
                    statement
                    if handed_back_too
                    else statement.where(Chunk.leased_until.is_not(None))
                )
            case JobKind.FINALIZE:
                statement = update(Task).where(
                    Task.id == job.task_id,
                    Task.finalize_lease_token == job.lease_token,
                    Task.status == TaskStatus.PROCESSING,
                )
                return (
                    statement
                    if handed_back_too
                    else statement.where(Task.finalize_leased_until.is_not(None))
                )
            case _:
                assert_never(job.kind)

    def _lease_end(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self._stores.settings.chunk_lease_seconds)


def _lease_columns(kind: JobKind, until: datetime | None) -> dict[str, object]:
    match kind:
        case JobKind.CHUNK:
            return {"leased_until": until}
        case JobKind.FINALIZE:
            return {"finalize_leased_until": until}
        case _:
            assert_never(kind)


def _token() -> str:
    return secrets.token_hex(8)
