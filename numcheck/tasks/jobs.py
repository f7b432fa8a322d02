"""A job: a wake-up naming the work (a chunk of a task, or its finalize) and the lease that
proves the dispatch still owns it. What runs it asks the database whether it is still wanted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from numcheck.states import JobKind
from numcheck.tasks import processing
from numcheck.tasks.context import WorkerContext


@dataclass(frozen=True)
class Job:
    kind: JobKind
    task_id: str
    idx: int = -1  # the chunk's index; -1 for a finalize
    lease_token: str = ""  # proves this dispatch still owns the work

    def __post_init__(self) -> None:
        # Whoever passes text ("chunk", from a message) gets a JobKind, or the error.
        object.__setattr__(self, "kind", JobKind.parse(self.kind))


def run(context: WorkerContext, job: Job) -> bool:
    """Do a job; True when it completed a task's last chunk (a finalize is now due)."""
    match job.kind:
        case JobKind.CHUNK:
            return processing.process_chunk(context, job.task_id, job.idx, job.lease_token)
        case JobKind.FINALIZE:
            processing.finalize(context, job.task_id, job.lease_token)
            return False
        case _:
            assert_never(job.kind)
