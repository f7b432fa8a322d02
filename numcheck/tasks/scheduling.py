"""Which work is due: leases on chunks and finalize steps, recovery, poison chunks.

A job is only a wake-up: whoever runs it asks the database whether the work is still wanted.
Claiming a job leases it for `chunk_lease_seconds`; the worker running it renews the lease
every quarter of that (`renew`, its heartbeat), so a job in hand keeps its lease however long it
runs, and a job whose lease expires (lost message, dead worker: no heartbeat) is claimed again
within about one lease. A chunk claimed `max_attempts` times fails its task instead of looping
forever.
"""

from __future__ import annotations

import enum
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, assert_never, cast

from sqlalchemy import CursorResult, Update, func, or_, select, update

from numcheck.accounts import credits
from numcheck.storage.models import Chunk, Task, utcnow
from numcheck.storage.stores import Stores
from numcheck.tasks import processing, records

log = logging.getLogger(__name__)


class JobKind(enum.StrEnum):
    """Every kind of job there is. Kinds travel as text in queue messages: anything else is a
    bug or a foreign message, and is refused rather than guessed at."""

    CHUNK = "chunk"  # check one chunk of a task
    FINALIZE = "finalize"  # zip a task's results once all its chunks are done

    @classmethod
    def parse(cls, text: str) -> JobKind:
        """The kind a message names; ValueError, naming the known kinds, for any other."""
        try:
            return cls(text)
        except ValueError:
            known = ", ".join(cls)
            raise ValueError(f"unknown job kind {text!r} (known: {known})") from None


@dataclass(frozen=True)
class Job:
    kind: JobKind
    task_id: str
    idx: int = -1  # the chunk's index; -1 for a finalize
    lease_token: str = ""  # the chunk's lease: proves this dispatch still owns it

    def __post_init__(self) -> None:
        # Whoever passes text ("chunk", from a message) gets a JobKind, or the error.
        object.__setattr__(self, "kind", JobKind.parse(self.kind))


def run(stores: Stores, job: Job) -> bool:
    """Do a job; True when it completed a task's last chunk (a finalize is now due)."""
    match job.kind:
        case JobKind.CHUNK:
            return processing.process_chunk(stores, job.task_id, job.idx, job.lease_token)
        case JobKind.FINALIZE:
            processing.finalize(stores, job.task_id)
            return False
        case _:
            assert_never(job.kind)


def claim(stores: Stores, limit: int) -> list[Job]:
    """Lease up to `limit` due jobs, oldest tasks first, finalize steps before chunks."""
    settings = stores.settings
    now = utcnow()
    until = _lease_end(stores, now)
    jobs: list[Job] = []
    failed: dict[str, int | None] = {}
    with stores.sessions.begin() as session:
        finishing = session.scalars(
            select(Task)
            .where(
                Task.status == "processing",
                Task.chunks_done == Task.chunk_count,
                or_(Task.finalize_leased_until.is_(None), Task.finalize_leased_until < now),
            )
            .order_by(Task.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)  # several servers may sweep at once
        )
        for task in finishing:
            task.finalize_leased_until = until
            jobs.append(Job(JobKind.FINALIZE, task.id))
        due = session.execute(
            select(Chunk, Task)
            .join(Task, Task.id == Chunk.task_id)
            .where(
                Chunk.status == "pending",
                or_(Chunk.leased_until.is_(None), Chunk.leased_until < now),
                Task.status.in_(records.ACTIVE),
            )
            .order_by(Task.created_at, Chunk.task_id, Chunk.idx)
            .limit(max(limit - len(jobs), 0))
            # Task rows too: the poison rule below changes a task's status.
            .with_for_update(skip_locked=True, of=[Chunk, Task])
        )
        for chunk, task in due:
            if task.id in failed:
                continue
            if chunk.attempts >= settings.chunk_max_attempts:
                task.status, task.updated_at = "failed", now
                task.message = (
                    f"Chunk {chunk.idx} failed {chunk.attempts} times; the task was stopped "
                    "and nothing is charged. Retry later or contact the operator."
                )
                failed[task.id] = task.registry_version_id
                credits.release(session, task.user_id, task.id, task.total)
                log.error(
                    "task failed task_id=%s chunk=%s attempts=%s",
                    task.id,
                    chunk.idx,
                    chunk.attempts,
                )
                continue
            chunk.attempts += 1
            chunk.lease_token = secrets.token_hex(8)
            chunk.leased_until = until
            jobs.append(Job(JobKind.CHUNK, chunk.task_id, chunk.idx, chunk.lease_token))
    for task_id, registry_version_id in failed.items():
        records.release(stores, task_id, registry_version_id)
    return [job for job in jobs if job.task_id not in failed]


def renew(stores: Stores, job: Job) -> bool:
    """Extend the lease of a job in hand to a whole lease from now: the heartbeat of the worker
    running it. Only a lease that is still this dispatch's is extended; False when the job is
    done, was handed back or was dispatched again meanwhile (the heartbeat then stops)."""
    until = _lease_end(stores, utcnow())
    statement: Update
    with stores.sessions.begin() as session:
        match job.kind:
            case JobKind.CHUNK:
                statement = (
                    update(Chunk)
                    .where(
                        Chunk.task_id == job.task_id,
                        Chunk.idx == job.idx,
                        Chunk.lease_token == job.lease_token,  # not dispatched again since
                        Chunk.status == "pending",
                        Chunk.leased_until.is_not(None),  # not handed back
                    )
                    .values(leased_until=until)
                )
            case JobKind.FINALIZE:
                # A finalize lease has no token (a task has one finalize, and it is idempotent):
                # it is renewed while the task still waits for its zip and nobody handed it back.
                statement = (
                    update(Task)
                    .where(
                        Task.id == job.task_id,
                        Task.status == "processing",
                        Task.chunks_done == Task.chunk_count,
                        Task.finalize_leased_until.is_not(None),
                    )
                    .values(finalize_leased_until=until)
                )
            case _:
                assert_never(job.kind)
        renewed = cast(CursorResult[Any], session.execute(statement))  # DML: a cursor result
        return bool(renewed.rowcount)


def _lease_end(stores: Stores, now: datetime) -> datetime:
    return now + timedelta(seconds=stores.settings.chunk_lease_seconds)


def in_flight(stores: Stores) -> int:
    """Jobs leased and not finished: queued for, or running at, a worker."""
    now = utcnow()
    with stores.sessions.begin() as session:
        chunks = session.scalar(
            select(func.count())
            .select_from(Chunk)
            .join(Task, Task.id == Chunk.task_id)
            .where(
                Chunk.status == "pending",
                Chunk.leased_until > now,
                Task.status.in_(records.ACTIVE),  # a cancelled task's leases hold no worker
            )
        )
        finishing = session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.status == "processing", Task.finalize_leased_until > now)
        )
    return int(chunks or 0) + int(finishing or 0)


def release(stores: Stores, job: Job) -> None:
    """Make a job that died due again at once (its attempt still counts)."""
    _hand_back(stores, job, attempts=Chunk.attempts)


def unclaim(stores: Stores, job: Job) -> None:
    """Undo the claim of a job that never reached a worker (the broker was down): due again at
    once, and the attempt is not counted, so a broker outage never fails a task."""
    _hand_back(stores, job, attempts=Chunk.attempts - 1)


def _hand_back(stores: Stores, job: Job, *, attempts: Any) -> None:  # attempts: SQL expression
    with stores.sessions.begin() as session:
        match job.kind:
            case JobKind.CHUNK:
                session.execute(
                    update(Chunk)
                    .where(
                        Chunk.task_id == job.task_id,
                        Chunk.idx == job.idx,
                        Chunk.lease_token == job.lease_token,  # still this dispatch's
                        Chunk.status == "pending",
                    )
                    .values(leased_until=None, attempts=attempts)
                )
            case JobKind.FINALIZE:
                session.execute(
                    update(Task).where(Task.id == job.task_id).values(finalize_leased_until=None)
                )
            case _:
                assert_never(job.kind)


def release_all(stores: Stores) -> None:
    """After a restart of the embedded server nothing holds a lease: make all work due now."""
    with stores.sessions.begin() as session:
        session.execute(update(Chunk).where(Chunk.status == "pending").values(leased_until=None))
        session.execute(
            update(Task).where(Task.status == "processing").values(finalize_leased_until=None)
        )
