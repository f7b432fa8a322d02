"""The work of a task: `process_chunk` and `finalize`, idempotent and safe to run twice.

Both run unchanged in the in-process pool and in scale-out workers (DESIGN.md): the database
decides whether work is still wanted, outputs go to deterministic keys, and counters move only
when a chunk goes from pending to done, in one transaction.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import func, select, update

from numcheck.accounts import credits
from numcheck.registries import versions as registry_versions
from numcheck.storage import blobs as blob_keys
from numcheck.storage import db
from numcheck.storage.models import Chunk, Task, utcnow
from numcheck.storage.stores import Stores
from numcheck.tasks import catalog, records, resultfile

log = logging.getLogger(__name__)


def process_chunk(stores: Stores, task_id: str, idx: int, lease_token: str) -> bool:
    """Check one chunk. Returns True when it was the task's last chunk (finalize is due)."""
    with stores.sessions.begin() as session:
        row = session.execute(
            select(Chunk, Task)
            .join(Task, Task.id == Chunk.task_id)
            .where(Chunk.task_id == task_id, Chunk.idx == idx)
            # The task row is locked: a cancel committed meanwhile must not be overwritten by
            # "processing" (PostgreSQL; SQLite serializes writers anyway).
            .with_for_update(of=Task)
        ).one_or_none()
        if row is None:
            return False
        chunk, task = row
        if chunk.status == "done" or chunk.lease_token != lease_token:
            return False  # done already, or a newer dispatch owns it
        if task.status not in records.ACTIVE:
            return False
        if task.status == "pending":
            task.status, task.updated_at = "processing", utcnow()
        start, end, first_line = chunk.start_byte, chunk.end_byte, chunk.first_line
        task_type, region = task.task_type, task.default_region
        registry_version_id, check_facts = task.registry_version_id, task.check_facts
        has_ids = task.id_column is not None

    try:
        raw = stores.blobs.read_range(blob_keys.upload_key(task_id), start, end)
    except FileNotFoundError:
        return False  # cancelled since: its files are gone, and so is the need for this chunk
    text = raw.decode("utf-8")
    numbered = [
        (first_line + offset, line) for offset, line in enumerate(text.split("\n")) if line.strip()
    ]
    ids = None
    if has_ids:  # CSV with an id column: canonical lines are "number<TAB>id"
        parts = [line.partition("\t") for _, line in numbered]
        numbered = [(line_no, number) for (line_no, _), (number, _, _) in zip(numbered, parts)]
        ids = [identifier for _, _, identifier in parts]
    check = catalog.for_task(stores, task_type, registry_version_id, check_facts)
    result = check.check_batch([line for _, line in numbered], region)
    success, failure = resultfile.write_parts(
        stores.blobs, task_id, idx, numbered, result.outcomes, ids
    )
    fallbacks = result.stats.get("fallbacks", 0)

    with stores.sessions.begin() as session:
        # Lock the task first: a cancel (or a failure, or retention) that committed while this
        # chunk ran has stopped the task for good, and its counters must never move again.
        task = session.scalars(select(Task).where(Task.id == task_id).with_for_update()).one()
        still_wanted = task.status in records.ACTIVE
        moved = 0
        if still_wanted:
            moved = db.rowcount(
                session.execute(
                    update(Chunk)
                    .where(Chunk.task_id == task_id, Chunk.idx == idx, Chunk.status == "pending")
                    .values(
                        status="done",
                        success=success,
                        failure=failure,
                        fallbacks=fallbacks,
                        leased_until=None,
                    )
                )
            )
        if moved:
            task.success += success
            task.failure += failure
            task.chunks_done += 1
            task.updated_at = utcnow()
        last = still_wanted and task.chunks_done == task.chunk_count
    if not still_wanted:
        # Cancelled while we worked: the cancel may have swept the parts before we wrote them.
        stores.blobs.delete_prefix(blob_keys.parts_prefix(task_id))
    return last


def finalize(stores: Stores, task_id: str) -> None:
    """Stream the parts into the result zip and mark the task exported (once)."""
    with stores.sessions.begin() as session:
        task = session.get(Task, task_id)
        if task is None or task.status != "processing" or task.chunks_done != task.chunk_count:
            return
        exported_at = utcnow()
        summary = records.status_body(task)
        summary.update(status="exported", updated_at=records.rfc3339(exported_at))
        summary["check"] = json.loads(task.check_facts or "{}")
        # Lines the compiled path handed to the phonenumbers reference (ideally none).
        summary["check"]["reference_fallbacks"] = session.scalar(
            select(func.coalesce(func.sum(Chunk.fallbacks), 0)).where(Chunk.task_id == task_id)
        )
        chunk_count, task_type = task.chunk_count, task.task_type
        registry_version_id, check_facts = task.registry_version_id, task.check_facts
        user_id, total, success = task.user_id, task.total, task.success
        id_column = task.id_column

    key = blob_keys.result_key(task_id)
    with stores.blobs.writer(key) as out:
        resultfile.write_zip(
            stores.blobs,
            out,
            task_id,
            chunk_count,
            catalog.for_task(stores, task_type, registry_version_id, check_facts).columns,
            summary,
            id_column,
        )

    with stores.sessions.begin() as session:
        exported = db.rowcount(
            session.execute(
                update(Task)
                .where(Task.id == task_id, Task.status == "processing")
                .values(status="exported", updated_at=exported_at, finalize_leased_until=None)
            )
        )
        if exported:  # charged in the transaction that exports: once, or not at all
            credits.charge_export(session, user_id, task_id, total, success)
        status = session.get_one(Task, task_id).status
    if exported:
        stores.blobs.delete_prefix(blob_keys.parts_prefix(task_id))
        stores.blobs.delete(blob_keys.upload_key(task_id))
        if registry_version_id is not None:
            registry_versions.collect_unused(stores)  # the version may have waited for this task
        log.info("task exported task_id=%s", task_id)
    elif status != "exported":
        stores.blobs.delete(key)  # cancelled while the zip was being written
