"""The task lifecycle on a real SQLite store: each change of state with its credits, its webhook
and its files — the files only once the transaction commits, never when it rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from numcheck.accounts import users
from numcheck.config import Settings
from numcheck.states import LedgerKind, TaskStatus
from numcheck.storage import blobs as blob_keys
from numcheck.storage import db
from numcheck.storage.models import LedgerEntry, Task, User, WebhookDelivery, utcnow
from numcheck.storage.stores import Stores
from numcheck.tasks import intake
from numcheck.tasks.lifecycle import TaskLifecycle

CREDITS = 100


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    stores = Stores.open(Settings(data_dir=tmp_path, webhook_allow_private=True))
    db.upgrade(stores.engine)
    yield stores
    stores.close()


@pytest.fixture
def lifecycle(stores: Stores) -> TaskLifecycle:
    return TaskLifecycle(stores)


def new_task(stores: Stores, lines: int = 3) -> str:
    """A task of `lines` numbers with a callback_url, and a file of each kind in the store."""
    upload = intake.PendingUpload(stores.blobs, intake.Limits(10_000, 10_000, 100, 10))
    upload.feed(b"+12025550101\n" * lines)
    with stores.sessions.begin() as session:
        user = users.get_or_create(session, "owner", actor="test", default_credits=CREDITS)
        task = intake.create(
            session,
            user,
            upload,
            "validate",
            None,
            max_active_tasks=100,
            callback_url="http://127.0.0.1:9/hook",
            allow_private_callbacks=True,
        )
        task_id = task.id
    for key in (blob_keys.part_key(task_id, 0, "results"), blob_keys.result_key(task_id)):
        with stores.blobs.writer(key) as out:
            out.write(b"x")
    return task_id


def locked(session, task_id: str) -> Task:  # type: ignore[no-untyped-def]
    return session.scalars(select(Task).where(Task.id == task_id).with_for_update()).one()


def ledger(stores: Stores, task_id: str) -> dict[LedgerKind, int]:
    with stores.sessions() as session:
        rows = session.execute(
            select(LedgerEntry.kind, LedgerEntry.amount).where(LedgerEntry.task_id == task_id)
        )
        return {kind: amount for kind, amount in rows}


def files(stores: Stores, task_id: str) -> set[str]:
    keys = {
        "upload": blob_keys.upload_key(task_id),
        "part": blob_keys.part_key(task_id, 0, "results"),
        "result": blob_keys.result_key(task_id),
    }
    return {name for name, key in keys.items() if stores.blobs.exists(key)}


def owed_webhook(stores: Stores, task_id: str) -> dict[str, object] | None:
    import json

    with stores.sessions() as session:
        delivery = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.task_id == task_id)
        ).one_or_none()
        return None if delivery is None else json.loads(delivery.body)


def balance(stores: Stores) -> tuple[int, int]:
    with stores.sessions() as session:
        user = session.scalars(select(User).where(User.name == "owner")).one()
        return user.credit_balance, user.credits_reserved


@pytest.mark.parametrize("change", ["cancel", "fail", "expire"])
def test_ending_an_active_task_releases_everything_and_deletes_its_files(
    stores: Stores, lifecycle: TaskLifecycle, change: str
) -> None:
    task_id = new_task(stores)
    assert balance(stores) == (CREDITS - 3, 3)
    with stores.sessions.begin() as session:
        task = locked(session, task_id)
        if change == "cancel":
            lifecycle.cancel(session, task, by="its owner")
        elif change == "fail":
            lifecycle.fail(session, task, "Chunk 0 failed 3 times.")
        else:
            lifecycle.expire(session, task, "Files deleted after the retention period.")
        assert files(stores, task_id) == {"upload", "part", "result"}  # not before the commit
    expected = {"cancel": TaskStatus.CANCELLED, "fail": TaskStatus.FAILED}
    with stores.sessions() as session:
        assert session.get_one(Task, task_id).status == expected.get(change, TaskStatus.EXPIRED)
    assert ledger(stores, task_id) == {LedgerKind.RESERVE: 3, LedgerKind.RELEASE: 3}
    assert balance(stores) == (CREDITS, 0)
    assert files(stores, task_id) == set()
    webhook = owed_webhook(stores, task_id)
    assert webhook is not None and webhook["status"] == expected.get(change, "expired")


def test_export_charges_success_keeps_the_result_and_owes_the_webhook(
    stores: Stores, lifecycle: TaskLifecycle
) -> None:
    task_id = new_task(stores)
    with stores.sessions.begin() as session:
        task = locked(session, task_id)
        lifecycle.start(task)
        task.success, task.failure, task.chunks_done = 2, 1, task.chunk_count
    with stores.sessions.begin() as session:
        lifecycle.export(session, locked(session, task_id), at=utcnow())
    assert ledger(stores, task_id) == {
        LedgerKind.RESERVE: 3,
        LedgerKind.CHARGE: 2,
        LedgerKind.RELEASE: 1,
    }
    assert balance(stores) == (CREDITS - 2, 0)
    assert files(stores, task_id) == {"result"}
    assert owed_webhook(stores, task_id)["status"] == "exported"  # type: ignore[index]


def test_nothing_happens_when_the_transaction_rolls_back(
    stores: Stores, lifecycle: TaskLifecycle
) -> None:
    task_id = new_task(stores)
    with pytest.raises(RuntimeError), stores.sessions.begin() as session:
        lifecycle.cancel(session, locked(session, task_id), by="its owner")
        raise RuntimeError("the route failed after the cancel")
    with stores.sessions() as session:
        assert session.get_one(Task, task_id).status == TaskStatus.PENDING
    assert ledger(stores, task_id) == {LedgerKind.RESERVE: 3}
    assert files(stores, task_id) == {"upload", "part", "result"}
    assert owed_webhook(stores, task_id) is None


def test_stop_cancels_an_active_task_and_deletes_a_finished_ones_files(
    stores: Stores, lifecycle: TaskLifecycle
) -> None:
    task_id = new_task(stores)
    with stores.sessions.begin() as session:
        task = locked(session, task_id)
        lifecycle.start(task)
        task.success, task.chunks_done = 3, task.chunk_count
        lifecycle.export(session, task, at=utcnow())
    with stores.sessions.begin() as session:
        lifecycle.stop(session, locked(session, task_id), by="its owner")
    with stores.sessions() as session:
        task = session.get_one(Task, task_id)
        assert (task.status, task.message) == (TaskStatus.EXPIRED, "Results deleted by its owner.")
    assert ledger(stores, task_id)[LedgerKind.CHARGE] == 3  # what was charged stays charged
    assert files(stores, task_id) == set()
    with stores.sessions.begin() as session:  # stopping an ended task changes nothing
        lifecycle.stop(session, locked(session, task_id), by="its owner")
        lifecycle.cancel(session, locked(session, task_id), by="its owner")
    with stores.sessions() as session:
        assert session.get_one(Task, task_id).status == TaskStatus.EXPIRED


def test_start_moves_only_a_pending_task(stores: Stores, lifecycle: TaskLifecycle) -> None:
    task_id = new_task(stores)
    with stores.sessions.begin() as session:
        task = locked(session, task_id)
        lifecycle.start(task)
        assert task.status == TaskStatus.PROCESSING
        lifecycle.cancel(session, task, by="its owner")
        lifecycle.start(task)
        assert task.status == TaskStatus.CANCELLED
