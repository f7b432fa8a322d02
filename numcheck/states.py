"""The closed sets of states numcheck stores, each defined once.

Members are `str` (StrEnum), so they are what the database columns hold and what the wire
contract shows; code compares and queries with the members, never with spelled-out strings.
"""

from __future__ import annotations

import enum


class TaskStatus(enum.StrEnum):
    PENDING = "pending"  # created, no chunk started yet
    PROCESSING = "processing"  # chunks running or done; finalize not yet
    EXPORTED = "exported"  # the result zip is ready
    FAILED = "failed"  # a chunk failed too often; nothing charged
    CANCELLED = "cancelled"  # by its owner or an administrator; nothing charged
    EXPIRED = "expired"  # its files were deleted (retention, or by its owner after export)

    @property
    def is_active(self) -> bool:
        return self in ACTIVE


# Active tasks may still start or finish work, hold reserved credits and count against the
# per-user limit; every other status is final.
ACTIVE: frozenset[TaskStatus] = frozenset({TaskStatus.PENDING, TaskStatus.PROCESSING})
TERMINAL: frozenset[TaskStatus] = frozenset(set(TaskStatus) - ACTIVE)


class ResultFormat(enum.StrEnum):
    """The file format of a task's results (and failures), chosen at upload."""

    CSV = "csv"
    XLSX = "xlsx"
    JSONL = "jsonl"

    @classmethod
    def parse(cls, text: str | None) -> ResultFormat:
        from numcheck import errors

        try:
            return cls((text or "csv").strip().lower())
        except ValueError:
            known = ", ".join(cls)
            raise errors.InvalidRequest(f"result_format must be one of {known}.") from None


class ChunkStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"  # its result parts are written and counted


class JobKind(enum.StrEnum):
    """Every kind of job there is. Kinds travel as text in queue messages: anything else is a
    bug or a foreign message, and is refused rather than guessed at."""

    CHUNK = "chunk"  # check one chunk of a task
    FINALIZE = "finalize"  # zip a task's results once all its chunks are done

    @classmethod
    def parse(cls, text: str) -> JobKind:
        """The kind a message names; ValueError, naming the known kinds, for any other."""
        try:
            return cls(text)
        except ValueError:
            known = ", ".join(cls)
            raise ValueError(f"unknown job kind {text!r} (known: {known})") from None


class LedgerKind(enum.StrEnum):
    """Movements of credits; (task, kind) is unique for the task-bound ones."""

    GRANT = "grant"  # an operator added credits
    SET = "set"  # an operator set the balance (the row holds the difference)
    RESERVE = "reserve"  # a task was created: its total is held
    CHARGE = "charge"  # a task was exported: its successful lines are spent
    RELEASE = "release"  # a task ended: what was held and not charged is given back


class IdempotencyState(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    DONE = "done"
