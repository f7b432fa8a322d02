"""Leases, their heartbeat and the closed set of job kinds, on the real lease code and a real
SQLite database: a job in hand keeps its lease while its worker lives and loses it within a lease
when the worker dies; only the dispatch that holds a lease may renew it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from numcheck.accounts import users
from numcheck.config import Settings
from numcheck.states import JobKind, LedgerKind, TaskStatus
from numcheck.storage import blobs as blob_keys
from numcheck.storage import db
from numcheck.storage.models import Chunk, LedgerEntry, Task
from numcheck.storage.stores import Stores
from numcheck.tasks import intake, jobs
from numcheck.tasks.context import WorkerContext
from numcheck.tasks.jobs import Job
from numcheck.tasks.leases import Leases
from numcheck.tasks.runner import Runner

LEASE = 5  # seconds: the shortest lease the settings allow


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    stores = Stores.open(Settings(data_dir=tmp_path, chunk_lines=2, chunk_lease_seconds=LEASE))
    db.upgrade(stores.engine)
    yield stores
    stores.close()


@pytest.fixture
def runner(stores: Stores) -> Runner:
    """What a worker process holds: its context, and the leases it renews and hands back."""
    return Runner(WorkerContext.of(stores))


@pytest.fixture
def leases(runner: Runner) -> Leases:
    return runner.leases


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


def claim_chunk(leases: Leases) -> Job:
    (job,) = leases.claim(1)
    assert job.kind is JobKind.CHUNK
    return job


def finish_chunks(runner: Runner) -> None:
    """Run every chunk of the (only) task: its finalize is then due, and not yet claimed."""
    claimed = runner.leases.claim(10)
    assert {job.kind for job in claimed} == {JobKind.CHUNK}
    for job in claimed:
        jobs.run(runner.context, job)


# -- renew ---------------------------------------------------------------------------------------


def test_a_renewal_gives_the_job_in_hand_a_whole_lease_from_now(
    stores: Stores, leases: Leases
) -> None:
    create_task(stores)
    job = claim_chunk(leases)
    run_out_the_lease(stores, job)
    renewals = REGISTRY.get_sample_value("numcheck_leases_renewed_total", {"kind": "chunk"}) or 0

    assert leases.renew(job) is True
    assert REGISTRY.get_sample_value("numcheck_leases_renewed_total", {"kind": "chunk"}) == (
        renewals + 1
    )
    lease = chunk_lease(stores, job)
    assert lease is not None and lease > datetime.now(UTC) + timedelta(seconds=LEASE - 1)
    assert job.idx not in [other.idx for other in leases.claim(10)]


def test_a_renewal_refuses_a_chunk_dispatched_again(stores: Stores, leases: Leases) -> None:
    create_task(stores)
    first = claim_chunk(leases)
    run_out_the_lease(stores, first)
    (again,) = [job for job in leases.claim(10) if job.idx == first.idx]
    lease_of_again = chunk_lease(stores, again)

    assert leases.renew(first) is False
    assert chunk_lease(stores, again) == lease_of_again  # the new owner's lease is untouched
    assert leases.renew(again) is True


def test_a_renewal_refuses_a_chunk_handed_back_or_done(
    stores: Stores, runner: Runner, leases: Leases
) -> None:
    create_task(stores)
    handed_back = claim_chunk(leases)
    leases.hand_back(handed_back, spent=True)
    assert leases.renew(handed_back) is False
    assert chunk_lease(stores, handed_back) is None  # still due at once

    done = claim_chunk(leases)
    jobs.run(runner.context, done)
    assert leases.renew(done) is False
    assert chunk_lease(stores, done) is None


def test_a_finalize_lease_is_renewed_until_it_is_handed_back_or_the_task_exported(
    stores: Stores, runner: Runner, leases: Leases
) -> None:
    task_id = create_task(stores)
    finish_chunks(runner)
    (job,) = leases.claim(1)
    assert job.kind is JobKind.FINALIZE
    with stores.sessions.begin() as session:
        session.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(finalize_leased_until=datetime.now(UTC) - timedelta(seconds=1))
        )

    assert leases.renew(job) is True
    lease = finalize_lease(stores, task_id)
    assert lease is not None and lease > datetime.now(UTC) + timedelta(seconds=LEASE - 1)

    leases.hand_back(job, spent=True)
    assert leases.renew(job) is False
    assert finalize_lease(stores, task_id) is None

    (job,) = leases.claim(1)
    jobs.run(runner.context, job)
    assert leases.renew(job) is False
    assert finalize_lease(stores, task_id) is None


def test_a_finalize_dispatched_again_belongs_to_its_new_token_only(
    stores: Stores, runner: Runner, leases: Leases
) -> None:
    """A finalize lease is proven by its token, as a chunk's is: an old dispatch that comes back
    (its worker lost the database for longer than a lease) can neither renew nor export."""
    task_id = create_task(stores)
    finish_chunks(runner)
    (first,) = leases.claim(1)
    with stores.sessions.begin() as session:
        session.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(finalize_leased_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    (again,) = leases.claim(1)
    assert (again.kind, again.task_id) == (JobKind.FINALIZE, task_id)
    assert again.lease_token != first.lease_token

    assert leases.renew(first) is False
    jobs.run(runner.context, first)  # the old dispatch finds the task no longer its own
    with stores.sessions() as session:
        assert session.get_one(Task, task_id).status == TaskStatus.PROCESSING
    assert leases.renew(again) is True
    jobs.run(runner.context, again)
    with stores.sessions() as session:
        assert session.get_one(Task, task_id).status == TaskStatus.EXPORTED


# -- the heartbeat -------------------------------------------------------------------------------


def test_a_job_in_hand_keeps_its_lease_until_its_heartbeat_stops(
    stores: Stores, runner: Runner, leases: Leases
) -> None:
    create_task(stores)
    job = claim_chunk(leases)

    with runner.heartbeat(job):
        time.sleep(LEASE + 1.5)  # a job longer than a lease: the lease taken at claim ran out
        assert job.idx not in [other.idx for other in leases.claim(10)]
        lease = chunk_lease(stores, job)
        assert lease is not None and lease > datetime.now(UTC)

    # The worker is gone (its heartbeat with it): within a lease its job is due again.
    time.sleep(LEASE + 0.5)
    (again,) = [other for other in leases.claim(10) if other.idx == job.idx]
    assert again.lease_token != job.lease_token


def test_the_heartbeat_renews_at_once_what_waited_in_a_queue(
    stores: Stores, runner: Runner, leases: Leases
) -> None:
    create_task(stores)
    job = claim_chunk(leases)
    run_out_the_lease(stores, job)  # it waited in a queue for a whole lease

    with runner.heartbeat(job):
        deadline = time.monotonic() + LEASE / 4
        while (chunk_lease(stores, job) or datetime.min.replace(tzinfo=UTC)) < datetime.now(UTC):
            assert time.monotonic() < deadline, "the first beat did not renew the lease"
            time.sleep(0.02)
        assert job.idx not in [other.idx for other in leases.claim(10)]


# -- job kinds -----------------------------------------------------------------------------------


def test_a_kind_from_a_message_becomes_a_job_kind() -> None:
    assert Job("chunk", "t", 3, "token").kind is JobKind.CHUNK
    assert Job("finalize", "t").kind is JobKind.FINALIZE


def test_an_unknown_job_kind_is_refused_and_nothing_runs(stores: Stores, runner: Runner) -> None:
    task_id = create_task(stores)
    finish_chunks(runner)  # a finalize is due: an unknown kind once ran as one

    with pytest.raises(ValueError, match=r"unknown job kind 'zip' \(known: chunk, finalize\)"):
        jobs.run(runner.context, Job("zip", task_id))  # type: ignore[arg-type]

    with stores.sessions() as session:
        assert session.get_one(Task, task_id).status == TaskStatus.PROCESSING
        kinds = session.scalars(select(LedgerEntry.kind).where(LedgerEntry.task_id == task_id))
        assert sorted(kinds) == [LedgerKind.RESERVE]  # nothing charged or released
    assert not stores.blobs.exists(blob_keys.result_key(task_id))
