"""The work of a task: `process_chunk` and `finalize`, idempotent and safe to run twice.

Both run unchanged in the in-process pool and in scale-out workers (docs/design.md): the database
decides whether work is still wanted, outputs go to deterministic keys, and counters move only
when a chunk goes from pending to done, in one transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy import func, select, update

from numcheck import logs
from numcheck.checks import Check
from numcheck.checks.validate import collector_paused
from numcheck.states import ChunkStatus, TaskStatus
from numcheck.storage import blobs as blob_keys
from numcheck.storage import db
from numcheck.storage.blobs import BlobStore
from numcheck.storage.models import Chunk, Task, utcnow
from numcheck.tasks import catalog, resultfile, status, tallies
from numcheck.tasks.context import WorkerContext
from numcheck.telemetry import metrics

log = logging.getLogger(__name__)


def process_chunk(context: WorkerContext, task_id: str, idx: int, lease_token: str) -> bool:
    """Check one chunk. Returns True when it was the task's last chunk (finalize is due)."""
    stores = context.stores
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
        logs.bind(request_id=task.request_id)  # the chunk's records name the upload's request
        if chunk.status == ChunkStatus.DONE or chunk.lease_token != lease_token:
            return False  # done already, or a newer dispatch owns it
        if not task.status.is_active:
            return False
        context.lifecycle.start(task)
        start, end, first_line = chunk.start_byte, chunk.end_byte, chunk.first_line
        region, check_facts = task.default_region, task.check_facts
        has_ids = task.id_column is not None
        layout_of = _layout_of(task)
        check_name = task.task_type

    started = time.perf_counter()
    try:
        raw = stores.blobs.read_range(blob_keys.upload_key(task_id), start, end)
    except FileNotFoundError:
        return False  # cancelled since: its files are gone, and so is the need for this chunk
    check = context.checks.for_task(check_facts)
    # The chunk's lines, answers and rows are hundreds of thousands of acyclic objects, all
    # freed when _check_and_write returns: the collector is paused until then (as the check
    # itself pauses it), instead of passing over them again and again while they are built
    # and once more, all of them, when it resumes after the check.
    with collector_paused():
        success, failure, tallied, fallbacks = _check_and_write(
            stores.blobs, task_id, idx, raw, first_line, has_ids, check, region, layout_of
        )
    metrics.CHUNK_DURATION.labels(check_name).observe(time.perf_counter() - started)

    with stores.sessions.begin() as session:
        # Lock the task first: a cancel (or a failure, or retention) that committed while this
        # chunk ran has stopped the task for good, and its counters must never move again.
        task = session.scalars(select(Task).where(Task.id == task_id).with_for_update()).one()
        still_wanted = task.status.is_active
        moved = 0
        if still_wanted:
            moved = db.rowcount(
                session.execute(
                    update(Chunk)
                    .where(
                        Chunk.task_id == task_id,
                        Chunk.idx == idx,
                        Chunk.status == ChunkStatus.PENDING,
                    )
                    .values(
                        status=ChunkStatus.DONE,
                        success=success,
                        failure=failure,
                        fallbacks=fallbacks,
                        tallies=tallies.dump(tallied),
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
    if moved:  # counted once, as the task's counters: never for a chunk done twice
        metrics.LINES_CHECKED.labels(check_name, "success").inc(success)
        metrics.LINES_CHECKED.labels(check_name, "failure").inc(failure)
        metrics.VALIDATOR_FALLBACKS.inc(fallbacks)
    if not still_wanted:
        # Stopped while we worked: its files went before we wrote these parts.
        stores.blobs.delete_prefix(blob_keys.parts_prefix(task_id))
    return last


def _check_and_write(
    blobs: BlobStore,
    task_id: str,
    idx: int,
    raw: bytes,
    first_line: int,
    has_ids: bool,
    check: Check,
    region: str | None,
    layout_of: Callable[[Sequence[str]], resultfile.Layout],
) -> tuple[int, int, tallies.Tallies, int]:
    """Check a chunk's bytes and write its result parts: its counts, tallies and fallbacks."""
    lines = raw.decode("utf-8").split("\n")
    if lines and not lines[-1]:
        lines.pop()  # the text after the last line end
    line_numbers: Sequence[int] = range(first_line, first_line + len(lines))
    if not all(map(str.strip, lines)):  # blank lines: kept in the file, never checked
        kept = [n for n, line in enumerate(lines) if line.strip()]
        line_numbers = [first_line + n for n in kept]
        lines = [lines[n] for n in kept]
    ids = None
    if has_ids:  # CSV with an id column: canonical lines are "number<TAB>id"
        parts = [line.partition("\t") for line in lines]
        lines = [number for number, _, _ in parts]
        ids = [identifier for _, _, identifier in parts]
    result = check.check_batch(lines, region)
    success, failure, tallied = resultfile.write_parts(
        blobs, task_id, idx, lines, line_numbers, result, ids, layout_of(check.columns)
    )
    return success, failure, tallied, result.stats.get("fallbacks", 0)


def _layout_of(task: Task) -> Callable[[Sequence[str]], resultfile.Layout]:
    """The task's result layout, once its check's columns are known (read while the task row
    is at hand: the work itself runs outside the transaction)."""
    id_column, result_format, include_failed = (
        task.id_column,
        task.result_format,
        task.include_failed,
    )
    return lambda columns: resultfile.Layout(
        tuple(columns), id_column, result_format, include_failed
    )


def finalize(context: WorkerContext, task_id: str, lease_token: str) -> None:
    """Stream the parts into the result zip and export the task (once)."""
    stores = context.stores
    with stores.sessions.begin() as session:
        task = session.get(Task, task_id)
        if task is not None:
            logs.bind(request_id=task.request_id)
        if (
            task is None
            or task.status != TaskStatus.PROCESSING
            or task.chunks_done != task.chunk_count
            or task.finalize_lease_token != lease_token
        ):
            return  # exported, stopped, or finalized by a newer dispatch
        exported_at = utcnow()
        summary = status.status_body(task)
        summary.update(status=str(TaskStatus.EXPORTED), updated_at=status.rfc3339(exported_at))
        summary["check"] = catalog.summary_facts(task.task_type, task.check_facts)
        # Lines the compiled path handed to the phonenumbers reference (ideally none).
        summary["check"]["reference_fallbacks"] = session.scalar(
            select(func.coalesce(func.sum(Chunk.fallbacks), 0)).where(Chunk.task_id == task_id)
        )
        summary["tallies"] = tallies.total(
            session.scalars(select(Chunk.tallies).where(Chunk.task_id == task_id))
        )
        chunk_count, check_facts = task.chunk_count, task.check_facts
        layout_of = _layout_of(task)

    key = blob_keys.result_key(task_id)
    started = time.perf_counter()
    with stores.blobs.writer(key) as out:
        resultfile.write_zip(
            stores.blobs,
            out,
            task_id,
            chunk_count,
            layout_of(context.checks.for_task(check_facts).columns),
            summary,
        )
    metrics.FINALIZE_DURATION.observe(time.perf_counter() - started)

    with stores.sessions.begin() as session:
        task = session.scalars(select(Task).where(Task.id == task_id).with_for_update()).one()
        if task.status == TaskStatus.PROCESSING:  # charged in this transaction: once, or never
            context.lifecycle.export(session, task, at=exported_at)
            return
    if task.status != TaskStatus.EXPORTED:
        stores.blobs.delete(key)  # stopped while the zip was being written
