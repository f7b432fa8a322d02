"""Intake: stream an upload into the blob store while decoding, counting and planning chunks.

The stored upload is canonical: UTF-8 without BOM, `\n` line ends, blank lines kept (so line
numbers still match the caller's file). Chunk boundaries are byte offsets into it. Lines travel
in indexed blocks (`textlines.LineIndex`), so a blank line costs no Python work of its own.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy.orm import Session

from numcheck import errors, ids, logs, numbers
from numcheck.accounts import credits, limits
from numcheck.config import Settings
from numcheck.csvinput import CsvToCanonical
from numcheck.states import ChunkStatus, ResultFormat, TaskStatus
from numcheck.storage import blobs as blob_keys
from numcheck.storage import db
from numcheck.storage.blobs import BlobStore
from numcheck.storage.models import Chunk, Task, TaskRegistryVersion, User, utcnow
from numcheck.tasks import catalog, webhooks
from numcheck.telemetry import metrics, tracing
from numcheck.textlines import LineIndex, LineSplitter


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_lines: int
    max_line_chars: int
    chunk_lines: int
    # The setting's own default, for limits built by hand (tests, tools).
    max_gzip_ratio: int = Settings.model_fields["max_gzip_ratio"].default

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            settings.max_upload_bytes,
            settings.max_lines,
            settings.max_line_chars,
            settings.chunk_lines,
            settings.max_gzip_ratio,
        )


@dataclass(frozen=True)
class ChunkPlan:
    start_byte: int
    end_byte: int
    first_line: int  # 1-based number of the chunk's first line in the upload
    lines: int  # non-blank lines in the chunk


@dataclass
class IntakeResult:
    total: int
    chunks: list[ChunkPlan] = field(default_factory=list)


class UploadIntake:
    """Feed raw bytes in; canonical text goes to `out`; `finish()` returns the counts and plan."""

    def __init__(
        self, out: BinaryIO, limits: Limits, csv_input: CsvToCanonical | None = None
    ) -> None:
        self._out = out
        self._limits = limits
        self._csv = csv_input
        self._received = 0
        self._splitter = LineSplitter(limits.max_line_chars)
        self._written = 0
        self._next_line = 1  # number of the next physical line
        self._total = 0
        self._chunks: list[ChunkPlan] = []
        self._chunk_start = 0
        self._chunk_first_line = 1
        self._chunk_lines = 0

    def feed(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > self._limits.max_bytes:
            raise errors.FileTooLarge(
                f"The file is over the limit of {self._limits.max_bytes} bytes."
            )
        self._take(self._splitter.feed_block(data))

    def finish(self) -> IntakeResult:
        self._take(self._splitter.finish_block())
        if self._csv is not None:
            self._account(LineIndex(self._csv.finish()))
        if self._chunk_lines:
            self._close_chunk()
        if self._total == 0:
            raise errors.EmptyFile()
        return IntakeResult(total=self._total, chunks=self._chunks)

    def _take(self, lines: LineIndex) -> None:
        if self._csv is not None:
            lines = self._csv.take_lines(lines)
        self._account(lines)

    def _account(self, lines: LineIndex) -> None:
        """Write a block of complete lines, count the non-blank ones, and cut chunks where they
        fill up (right after the line that fills one)."""
        nonblank, block = lines.nonblank, memoryview(lines.block)
        taken = start_line = start_byte = 0
        while True:
            room = self._limits.chunk_lines - self._chunk_lines
            if len(nonblank) - taken < room:
                self._write(block[start_byte:], lines.count - start_line, len(nonblank) - taken)
                return
            cut_line = int(nonblank[taken + room - 1])
            cut_byte = int(lines.ends[cut_line]) + 1
            self._write(block[start_byte:cut_byte], cut_line + 1 - start_line, room)
            self._close_chunk()
            taken, start_line, start_byte = taken + room, cut_line + 1, cut_byte

    def _write(self, block: memoryview, line_count: int, nonblank: int) -> None:
        self._total += nonblank
        if self._total > self._limits.max_lines:
            raise errors.TooManyLines(f"The file has more than {self._limits.max_lines} lines.")
        self._out.write(block)
        self._written += len(block)
        self._next_line += line_count
        self._chunk_lines += nonblank

    def _close_chunk(self) -> None:
        self._chunks.append(
            ChunkPlan(self._chunk_start, self._written, self._chunk_first_line, self._chunk_lines)
        )
        self._chunk_start = self._written
        self._chunk_first_line = self._next_line
        self._chunk_lines = 0


_GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_STEP = 1 << 20  # decompress at most this much at a time: a bomb never lands in memory
GZIP_ALLOWANCE = 1 << 20  # inflated bytes always let through: tiny files are never refused


class GzipInflater:
    """Decompress gzip as it streams and hand the bytes on, refusing data that inflates more
    than `max_ratio` times its compressed size (past the first `GZIP_ALLOWANCE` bytes).

    Checked before each step (at most 1 MiB) is handed on: what reaches the intake is never
    more than `max_ratio` times the compressed bytes read so far (or the allowance), so a bomb
    costs about a megabyte of work, not the size limit's worth.
    """

    def __init__(self, hand_on: Callable[[bytes], None], max_ratio: int) -> None:
        self.inflated = 0  # decompressed bytes handed on
        self._hand_on = hand_on
        self._max_ratio = max_ratio
        self._inflate = zlib.decompressobj(wbits=31)
        self._received = 0  # compressed bytes given to zlib

    def feed(self, data: bytes) -> None:
        self._received += len(data)
        try:
            self._inflate_all(data)
        except zlib.error:
            raise errors.UndecodableFile("The gzip data is corrupt.") from None

    def _inflate_all(self, data: bytes) -> None:
        piece = self._inflate.decompress(data, _INFLATE_STEP)
        while True:
            if piece:
                self._pass(piece)
            if self._inflate.unconsumed_tail:
                piece = self._inflate.decompress(self._inflate.unconsumed_tail, _INFLATE_STEP)
            elif self._next_member_starts():
                # Concatenated members (`cat a.gz b.gz`) are one file, as gzip itself reads them.
                rest = self._inflate.unused_data
                self._inflate = zlib.decompressobj(wbits=31)
                piece = self._inflate.decompress(rest, _INFLATE_STEP)
            else:
                return

    def _next_member_starts(self) -> bool:
        """After a member's end: True when another member follows; False while its first bytes
        have yet to arrive, or when only zero padding follows (gzip ignores it too)."""
        following = self._inflate.unused_data if self._inflate.eof else b""
        if len(following) < len(_GZIP_MAGIC) or not following.strip(b"\0"):
            return False
        if not following.startswith(_GZIP_MAGIC):
            raise zlib.error("not a gzip member after the end of the last one")
        return True

    def finish(self) -> None:
        if not self._inflate.eof or self._inflate.unused_data.strip(b"\0"):
            raise errors.UndecodableFile("The gzip data is truncated.")
        tail = self._inflate.flush()
        if tail:
            self._pass(tail)

    def _pass(self, piece: bytes) -> None:
        self.inflated += len(piece)
        waiting = len(self._inflate.unconsumed_tail)
        if self._inflate.eof:
            waiting += len(self._inflate.unused_data)
        consumed = self._received - waiting
        if self.inflated > max(GZIP_ALLOWANCE, self._max_ratio * consumed):
            raise errors.FileTooLarge(
                f"The gzip data inflates more than {self._max_ratio} times its compressed size; "
                "send it uncompressed or compressed less."
            )
        self._hand_on(piece)


class PendingUpload:
    """An upload streaming into the blob store under a fresh task id, until `create` keeps it.

    A gzip-compressed upload (recognised by its magic bytes) is decompressed as it streams; the
    size limit applies to the decompressed bytes, and the ratio limit to how much they inflate.
    """

    def __init__(
        self, blobs: BlobStore, limits: Limits, csv_input: CsvToCanonical | None = None
    ) -> None:
        self.task_id = ids.new_task_id()
        self.sha256 = hashlib.sha256()  # of the bytes as uploaded, for Idempotency-Key
        self._blobs = blobs
        self._stack = ExitStack()
        out = self._stack.enter_context(blobs.writer(blob_keys.upload_key(self.task_id)))
        self._intake = UploadIntake(out, limits, csv_input)
        self._limits = limits
        self._head = b""
        self._inflater: GzipInflater | None = None
        self._started = False
        self._result: IntakeResult | None = None

    def feed(self, data: bytes) -> None:
        self.sha256.update(data)
        if not self._started:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head, self._started = self._head, b"", True
            if data.startswith(_GZIP_MAGIC):
                self._inflater = GzipInflater(self._intake.feed, self._limits.max_gzip_ratio)
        if self._inflater is None:
            self._intake.feed(data)
        else:
            self._inflater.feed(data)

    def finish(self) -> IntakeResult:
        """Read the last bytes and publish the blob (once: later calls answer the same)."""
        if self._result is not None:
            return self._result
        if not self._started and self._head:
            self._started = True
            self._intake.feed(self._head)
        if self._inflater is not None:
            self._inflater.finish()
        result = self._intake.finish()
        self._stack.close()  # publishes the blob
        self._result = result
        return result

    def discard(self) -> None:
        """Drop the upload, whether or not it was published."""
        try:
            self._stack.__exit__(errors.NumcheckError, errors.NumcheckError("discarded"), None)
        finally:
            self._blobs.delete(blob_keys.upload_key(self.task_id))


@tracing.traced("numcheck.intake.create")
def create(
    session: Session,
    user: User,
    upload: PendingUpload,
    task_type: str | None,
    default_region: str | None,
    *,
    max_active_tasks: int,
    id_column: str | None = None,
    callback_url: str | None = None,
    allow_private_callbacks: bool = False,
    result_format: ResultFormat = ResultFormat.CSV,
    include_failed: bool = False,
) -> Task:
    """Validate the form, finish the upload, add the task and its chunks and reserve its
    credits (caller commits; an error leaves nothing)."""
    checks_run = catalog.resolve(session, user, task_type)
    default_region = numbers.default_region(default_region)
    if callback_url is not None:
        callback_url = webhooks.check_callback_url(callback_url, allow_private_callbacks)
    result = upload.finish()
    limits.check_active_tasks(session, user.id, max_active_tasks)
    now = utcnow()
    task = Task(
        id=upload.task_id,
        user_id=user.id,
        task_type=",".join(check.name for check in checks_run),
        status=TaskStatus.PENDING,
        default_region=default_region,
        total=result.total,
        success=0,
        failure=0,
        chunk_count=len(result.chunks),
        chunks_done=0,
        check_facts=catalog.record(checks_run),
        id_column=id_column,
        result_format=result_format,
        include_failed=include_failed,
        callback_url=callback_url,
        request_id=logs.current("request_id"),
        trace_context=tracing.stored_context(),
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()  # the task row first: chunks reference it
    session.add_all(
        Chunk(
            task_id=task.id,
            idx=idx,
            start_byte=plan.start_byte,
            end_byte=plan.end_byte,
            first_line=plan.first_line,
            lines=plan.lines,
            status=ChunkStatus.PENDING,
            success=0,
            failure=0,
            fallbacks=0,
            attempts=0,
        )
        for idx, plan in enumerate(result.chunks)
    )
    session.add_all(
        TaskRegistryVersion(task_id=task.id, registry_version_id=version_id)
        for version_id in catalog.registry_version_ids(task.check_facts)
    )
    credits.reserve(session, user.id, task.id, task.total * task.check_count)
    session.flush()
    db.after_commit(session, metrics.TASKS_CREATED.labels(task.task_type).inc)
    return task
