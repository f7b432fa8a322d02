"""Database tables. Changes here need an Alembic revision in storage/migrations/versions."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from numcheck.states import ChunkStatus, IdempotencyState, LedgerKind, ResultFormat, TaskStatus

StateT = TypeVar("StateT", bound=enum.StrEnum)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, stored the same way on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class StoredEnum(TypeDecorator[StateT]):
    """A StrEnum stored as its value in a VARCHAR, read back as the member: a value outside the
    set can neither be written nor pass unnoticed when read."""

    impl = String
    cache_ok = True

    def __init__(self, members: type[StateT], length: int) -> None:
        super().__init__(length)
        self._members = members

    def process_bind_param(self, value: StateT | str | None, dialect: object) -> str | None:
        return None if value is None else str(self._members(value).value)

    def process_result_value(self, value: str | None, dialect: object) -> StateT | None:
        return None if value is None else self._members(value)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Credits: unlimited users are not metered; others spend `credit_balance`. Credits held
    # for running tasks sit in `credits_reserved` until export charges or releases them.
    credits_unlimited: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    credit_balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    credits_reserved: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    webhook_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the whole key, hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_user_created", "user_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    task_type: Mapped[str] = mapped_column(String(300))  # a check, or several: "validate,htx"
    status: Mapped[TaskStatus] = mapped_column(StoredEnum(TaskStatus, 16), index=True)
    default_region: Mapped[str | None] = mapped_column(String(2), nullable=True)
    total: Mapped[int] = mapped_column(BigInteger)
    success: Mapped[int] = mapped_column(BigInteger, default=0)
    failure: Mapped[int] = mapped_column(BigInteger, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # JSON {"checks": [{"name", "facts", "registry_version_id"}]}: what each check answers from.
    check_facts: Mapped[str | None] = mapped_column(Text, nullable=True)
    id_column: Mapped[str | None] = mapped_column(String(100), nullable=True)  # CSV passthrough
    result_format: Mapped[ResultFormat] = mapped_column(
        StoredEnum(ResultFormat, 8), default=ResultFormat.CSV, server_default="csv"
    )
    # One results file with a row for every input line, failures included (no failed.*).
    include_failed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    finalize_lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    finalize_leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The X-Request-ID of the request that created it: its chunks' log records carry it too.
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Its creating request's trace context (W3C headers as JSON; null while tracing is off):
    # the spans of its chunks join that trace.
    trace_context: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def check_count(self) -> int:
        """The checks it runs on every line: its credits are `total` times this."""
        return self.task_type.count(",") + 1


class TaskRegistryVersion(Base):
    """A registry version a task answers from (fixed when the task is created): a version that
    is no longer current is kept while an active task still uses it."""

    __tablename__ = "task_registry_versions"
    __table_args__ = (Index("ix_task_registry_versions_version", "registry_version_id"),)

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    registry_version_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_dispatch", "status", "leased_until"),)

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_byte: Mapped[int] = mapped_column(BigInteger)
    end_byte: Mapped[int] = mapped_column(BigInteger)
    first_line: Mapped[int] = mapped_column(BigInteger)  # 1-based line number in the upload
    lines: Mapped[int] = mapped_column(Integer)  # non-blank lines
    status: Mapped[ChunkStatus] = mapped_column(
        StoredEnum(ChunkStatus, 12), default=ChunkStatus.PENDING
    )
    success: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[int] = mapped_column(Integer, default=0)
    fallbacks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # JSON {column: {value: count}} of the chunk's answers, set when it is done (tasks/tallies).
    tallies: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Registry(Base):
    """A named registry; its answers come from `current_version_id`."""

    __tablename__ = "registries"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    current_version_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RegistryVersion(Base):
    """An immutable snapshot of keyed hashes. Outlives its registry while a task still uses it."""

    __tablename__ = "registry_versions"
    __table_args__ = (Index("ix_registry_versions_name_version", "name", "version", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    entries: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(8))  # replace, add or remove
    source_sha256: Mapped[str] = mapped_column(String(64))
    # KeyedHasher.key_check of the key that hashed it (None: loaded before this was recorded).
    key_check: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # registries.hashing: the digest its entries are (versions from before: "blake2b-64").
    digest: Mapped[str] = mapped_column(String(16), server_default="blake2b-64")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RegistryGrant(Base):
    __tablename__ = "registry_grants"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(Base):
    """One movement of credits. (task_id, kind) is unique: a task is reserved, charged and
    released at most once, whatever retries or crashes happen."""

    __tablename__ = "credit_ledger"
    __table_args__ = (
        Index("ux_credit_ledger_task_kind", "task_id", "kind", unique=True),
        Index("ix_credit_ledger_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    task_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    kind: Mapped[LedgerKind] = mapped_column(StoredEnum(LedgerKind, 16))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyRecord(Base):
    """The first response to an Idempotency-Key, per user, for replays within 24 hours."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[IdempotencyState] = mapped_column(StoredEnum(IdempotencyState, 12))
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    response: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Who did what to whom, and when. Never a key or a number."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(120))
    details: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON


class WebhookDelivery(Base):
    """A status body owed to a task's callback_url, retried with backoff for up to an hour.
    One row per task (task_id is unique); a server attempting it holds a lease on it, so
    several servers never send it at once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(20), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    gave_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(16), nullable=True)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
