"""What the metrics endpoint reports from the database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from numcheck.states import ChunkStatus
from numcheck.storage.models import Chunk, Task


@dataclass(frozen=True)
class TaskMetrics:
    tasks_by_status: dict[str, int]
    lines_checked: int  # non-blank lines of finished chunks
    validator_fallbacks: int  # lines the compiled validator handed to phonenumbers


def task_metrics(session: Session) -> TaskMetrics:
    by_status = dict(session.execute(select(Task.status, func.count()).group_by(Task.status)).all())
    lines, fallbacks = session.execute(
        select(
            func.coalesce(func.sum(Chunk.lines), 0), func.coalesce(func.sum(Chunk.fallbacks), 0)
        ).where(Chunk.status == ChunkStatus.DONE)
    ).one()
    return TaskMetrics(
        tasks_by_status={str(k): int(v) for k, v in by_status.items()},
        lines_checked=int(lines),
        validator_fallbacks=int(fallbacks),
    )
