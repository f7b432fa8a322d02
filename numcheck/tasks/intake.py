"""Intake: stream an upload into the blob store while decoding, counting and planning chunks.

The stored upload is canonical: UTF-8 without BOM, `\n` line ends, blank lines kept (so line
numbers still match the caller's file). Chunk boundaries are byte offsets into it.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy.orm import Session

from numcheck import errors, ids, numbers
from numcheck.accounts import credits, limits
from numcheck.storage import blobs as blob_keys
from numcheck.storage.blobs import BlobStore
from numcheck.storage.models import Chunk, Task, User, utcnow
from numcheck.tasks import catalog
from numcheck.textlines import LineSplitter

@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_lines: int
    max_line_chars: int
    chunk_lines: int


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

    def __init__(self, out: BinaryIO, limits: Limits) -> None:
        self._out = out
        self._limits = limits
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
            raise errors.FileTooLarge(f"The file is over the limit of {self._limits.max_bytes} bytes.")
        lines = self._splitter.feed(data)
        if lines:
            self._account(lines)

    def finish(self) -> IntakeResult:
        lines = self._splitter.finish()
        if lines:
            self._account(lines)
        if self._chunk_lines:
            self._close_chunk()
        if self._total == 0:
            raise errors.EmptyFile()
        return IntakeResult(total=self._total, chunks=self._chunks)

    def _account(self, lines: list[str]) -> None:
        """Write complete lines, count the non-blank ones, and cut chunks where they fill up."""
        while lines:
            room = self._limits.chunk_lines - self._chunk_lines
            nonblank = sum(map(bool, map(str.strip, lines)))
            if nonblank < room:
                self._write(lines, nonblank)
                return
            # The chunk fills inside this batch: find the line that fills it.
            seen = 0
            for cut, line in enumerate(lines, start=1):
                if line.strip():
                    seen += 1
                    if seen == room:
                        break
            self._write(lines[:cut], room)
            self._close_chunk()
            lines = lines[cut:]

    def _write(self, lines: list[str], nonblank: int) -> None:
        self._total += nonblank
        if self._total > self._limits.max_lines:
            raise errors.TooManyLines(f"The file has more than {self._limits.max_lines} lines.")
        encoded = ("\n".join(lines) + "\n").encode()
        self._out.write(encoded)
        self._written += len(encoded)
        self._next_line += len(lines)
        self._chunk_lines += nonblank

    def _close_chunk(self) -> None:
        self._chunks.append(
            ChunkPlan(self._chunk_start, self._written, self._chunk_first_line, self._chunk_lines)
        )
        self._chunk_start = self._written
        self._chunk_first_line = self._next_line
        self._chunk_lines = 0


class PendingUpload:
    """An upload streaming into the blob store under a fresh task id, until `create` keeps it."""

    def __init__(self, blobs: BlobStore, limits: Limits) -> None:
        self.task_id = ids.new_task_id()
        self.sha256 = hashlib.sha256()  # of the bytes as uploaded, for Idempotency-Key
        self._blobs = blobs
        self._stack = ExitStack()
        out = self._stack.enter_context(blobs.writer(blob_keys.upload_key(self.task_id)))
        self._intake = UploadIntake(out, limits)

    def feed(self, data: bytes) -> None:
        self._intake.feed(data)
        self.sha256.update(data)

    def finish(self) -> IntakeResult:
        result = self._intake.finish()
        self._stack.close()  # publishes the blob
        return result

    def discard(self) -> None:
        """Drop the upload, whether or not it was published."""
        try:
            self._stack.__exit__(errors.NumcheckError, errors.NumcheckError("discarded"), None)
        finally:
            self._blobs.delete(blob_keys.upload_key(self.task_id))


def create(
    session: Session,
    user: User,
    upload: PendingUpload,
    task_type: str | None,
    default_region: str | None,
    *,
    max_active_tasks: int,
) -> Task:
    """Validate the form, finish the upload, add the task and its chunks and reserve its
    credits (caller commits; an error leaves nothing)."""
    check = catalog.resolve(session, user, task_type)
    if default_region is not None:
        default_region = default_region.strip().upper() or None
    if default_region is not None and not numbers.is_supported_region(default_region):
        raise errors.InvalidRequest(
            "default_region must be an ISO 3166-1 alpha-2 region code, such as US or DE."
        )
    result = upload.finish()
    limits.check_active_tasks(session, user.id, max_active_tasks)
    now = utcnow()
    task = Task(
        id=upload.task_id,
        user_id=user.id,
        task_type=check.name,
        status="pending",
        default_region=default_region,
        total=result.total,
        success=0,
        failure=0,
        chunk_count=len(result.chunks),
        chunks_done=0,
        check_facts=json.dumps({"name": check.name, **check.version_facts()}),
        registry_version_id=getattr(check, "version_id", None),
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
            status="pending",
            success=0,
            failure=0,
            fallbacks=0,
            attempts=0,
        )
        for idx, plan in enumerate(result.chunks)
    )
    credits.reserve(session, user.id, task.id, task.total)
    session.flush()
    return task
