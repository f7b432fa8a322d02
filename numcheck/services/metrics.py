"""What a scrape reports from the database: tasks by status, the queue, the registries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, type_coerce
from sqlalchemy.orm import Session

from numcheck.states import ACTIVE, ChunkStatus
from numcheck.storage.models import Chunk, Registry, RegistryVersion, Task, UTCDateTime


@dataclass(frozen=True)
class RegistrySize:
    name: str
    version: int
    entries: int


@dataclass(frozen=True)
class DatabaseMetrics:
    tasks_by_status: dict[str, int]
    chunks_due: int  # pending chunks of active tasks that no worker holds: the queue
    chunks_leased: int  # pending chunks a worker holds (queued at it, or running)
    oldest_due_seconds: float  # how long the longest-waiting due chunk has waited; 0 if none
    registries: list[RegistrySize]


def database_metrics(session: Session, now: datetime) -> DatabaseMetrics:
    by_status = dict(session.execute(select(Task.status, func.count()).group_by(Task.status)).all())
    pending = (
        select(Chunk)
        .join(Task, Task.id == Chunk.task_id)
        .where(Chunk.status == ChunkStatus.PENDING, Task.status.in_(ACTIVE))
    )
    due = or_(Chunk.leased_until.is_(None), Chunk.leased_until < now)
    chunks_due = session.scalar(select(func.count()).select_from(pending.where(due).subquery()))
    chunks_leased = session.scalar(select(func.count()).select_from(pending.where(~due).subquery()))
    # A chunk never leased is due since its task was created; one whose lease ran out, since
    # the lease's end (a handed-back chunk counts from its task's creation: an upper bound).
    oldest = session.scalar(
        pending.with_only_columns(
            # typed: SQLite hands an aggregate of datetimes back as text otherwise
            type_coerce(func.min(func.coalesce(Chunk.leased_until, Task.created_at)), UTCDateTime)
        )
        .where(due)
        .order_by(None)
    )
    registries = [
        RegistrySize(name, int(version), int(entries))
        for name, version, entries in session.execute(
            select(Registry.name, RegistryVersion.version, RegistryVersion.entries)
            .join(RegistryVersion, RegistryVersion.id == Registry.current_version_id)
            .order_by(Registry.name)
        )
    ]
    return DatabaseMetrics(
        tasks_by_status={str(k): int(v) for k, v in by_status.items()},
        chunks_due=int(chunks_due or 0),
        chunks_leased=int(chunks_leased or 0),
        oldest_due_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        registries=registries,
    )
