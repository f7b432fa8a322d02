"""Jobs on the real scheduling code and a real SQLite database: the closed set of job kinds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from numcheck.accounts import users
from numcheck.config import Settings
from numcheck.storage import blobs as blob_keys
from numcheck.storage import db
from numcheck.storage.models import Chunk, LedgerEntry, Task
from numcheck.storage.stores import Stores
from numcheck.tasks import intake, scheduling
from numcheck.tasks.scheduling import Job, JobKind

LEASE = 5  # seconds: the shortest lease the settings allow


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    stores = Stores.open(Settings(data_dir=tmp_path, chunk_lines=2, chunk_lease_seconds=LEASE))
    db.upgrade(stores.engine)
    yield stores
    stores.close()


def create_task(stores: Stores, lines: int = 6) -> str:
    """A validate task of `lines` numbers, two a chunk."""
    limits = intake.Limits(10_000, 10_000, 100, stores.settings.chunk_lines)
    upload = intake.PendingUpload(stores.blobs, limits)
    upload.feed(b"+12025550101\n" * lines)
    with stores.sessions.begin() as session:
        user = users.get_or_create(session, "payer", actor="test", default_credits=1000)
        task = intake.create(session, user, upload, "validate", None, max_active_tasks=100)
        return task.id


def chunk_lease(stores: Stores, job: Job) -> datetime | None:
    with stores.sessions() as session:
        return session.get_one(Chunk, (job.task_id, job.idx)).leased_until


def finalize_lease(stores: Stores, task_id: str) -> datetime | None:
    with stores.sessions() as session:
        return session.get_one(Task, task_id).finalize_leased_until


def run_out_the_lease(stores: Stores, job: Job) -> None:
    """As if a lease had passed since the job was claimed (not yet claimed again)."""
    with stores.sessions.begin() as session:
        session.execute(
            update(Chunk)
            .where(Chunk.task_id == job.task_id, Chunk.idx == job.idx)
            .values(leased_until=datetime.now(UTC) - timedelta(seconds=1))
        )


def claim_chunk(stores: Stores) -> Job:
    (job,) = scheduling.claim(stores, 1)
    assert job.kind is JobKind.CHUNK
    return job


def finish_chunks(stores: Stores) -> None:
    """Run every chunk of the (only) task: its finalize is then due, and not yet claimed."""
    jobs = scheduling.claim(stores, 10)
    assert {job.kind for job in jobs} == {JobKind.CHUNK}
    for job in jobs:
        scheduling.run(stores, job)


# -- job kinds -----------------------------------------------------------------------------------


def test_a_kind_from_a_message_becomes_a_job_kind() -> None:
    assert Job("chunk", "t", 3, "token").kind is JobKind.CHUNK
    assert Job("finalize", "t").kind is JobKind.FINALIZE


def test_an_unknown_job_kind_is_refused_and_nothing_runs(stores: Stores) -> None:
    task_id = create_task(stores)
    finish_chunks(stores)  # a finalize is due: an unknown kind once ran as one

    with pytest.raises(ValueError, match=r"unknown job kind 'zip' \(known: chunk, finalize\)"):
        scheduling.run(stores, Job("zip", task_id))  # type: ignore[arg-type]

    with stores.sessions() as session:
        assert session.get_one(Task, task_id).status == "processing"
        kinds = session.scalars(select(LedgerEntry.kind).where(LedgerEntry.task_id == task_id))
        assert sorted(kinds) == ["reserve"]  # nothing charged or released
    assert not stores.blobs.exists(blob_keys.result_key(task_id))
