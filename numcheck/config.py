"""One typed settings object, read from `NUMCHECK_*` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob numcheck has. The README's configuration table is checked against this class."""

    # An empty variable is as if unset: NUMCHECK_CACHE_DIR="" must not mean the current directory.
    model_config = SettingsConfigDict(env_prefix="NUMCHECK_", extra="ignore", env_ignore_empty=True)

    database_url: str | None = Field(
        None,
        description="A shared database, e.g. `postgresql+psycopg://user@host/numcheck`; "
        "default: SQLite (WAL) in the data dir. A shared database is upgraded only by "
        "`numcheck db upgrade`.",
    )
    broker_url: str | None = Field(
        None,
        description="Celery broker (`redis://…` or `amqp://…`): checks run in `numcheck worker` "
        "processes on any machine and `numcheck serve` runs the API only. Needs "
        "NUMCHECK_DATABASE_URL.",
    )
    storage_url: str | None = Field(
        None,
        description="Blobs in S3 or an S3-compatible store: `s3://bucket/prefix` (endpoint and "
        "credentials from the AWS variables); default: files in the data dir. Needs "
        "NUMCHECK_DATABASE_URL.",
    )
    data_dir: Path = Field(
        Path("numcheck-data"),
        description="Directory holding the SQLite database, blobs and generated secrets.",
    )
    host: str = Field("127.0.0.1", description="Address `numcheck serve` binds to.")
    port: int = Field(8080, ge=1, le=65535, description="Port `numcheck serve` listens on.")
    public_url: str | None = Field(
        None,
        description="Base URL clients reach the API at (for result links); "
        "default: the URL of the incoming request.",
    )
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Worker processes: of the in-process pool, or of each `numcheck worker` "
        "(default: one per core).",
    )
    status_read_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="Threads an API server gives the status calls (GET /v1/tasks/{id}, POST "
        "/v1/gettasks) at once. Each is a short read; run side by side in more threads they "
        "spend their CPU contending for Python's GIL (at 1,000 calls/s: 40 threads cost ~2 ms "
        "of CPU a call, one ~0.8 ms). Raise it for a database whose reads wait on the network.",
    )
    worker_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="Niceness of the in-process pool's worker processes: when a task's checks "
        "fill every core, the API's requests get the CPU first (0: the server's priority).",
    )
    queue_depth: int | None = Field(
        None,
        ge=1,
        description="Scale-out: jobs leased and queued or running at once, across all workers "
        "(default: 4 x NUMCHECK_WORKERS). Set it to about twice the total concurrency of all "
        "`numcheck worker` processes.",
    )
    chunk_lines: int = Field(
        50_000, ge=1, description="Non-blank lines per chunk, the unit of work of a worker."
    )
    max_upload_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        description="Largest accepted file, in bytes as uploaded (413 above).",
    )
    max_lines: int = Field(
        20_000_000, ge=1, description="Most non-blank lines accepted in one file (413 above)."
    )
    max_line_chars: int = Field(
        1024, ge=16, description="Longest accepted line, in characters (413 above)."
    )
    max_gzip_ratio: int = Field(
        100,
        ge=2,
        description="Largest ratio of decompressed to compressed bytes of a gzip upload (413 "
        "above): a gzip bomb is refused after a few megabytes instead of after the size limit.",
    )
    max_uploads_in_flight: int = Field(
        4, ge=1, description="Uploads one API key may stream at once, per API server (429 above)."
    )
    header_timeout_seconds: float = Field(
        10,
        gt=0,
        description="Time a connection has to send a request's line and headers before it is "
        "closed (slow-header attacks).",
    )
    body_timeout_seconds: float = Field(
        30,
        gt=0,
        description="Longest pause between two pieces of a request body (408 above).",
    )
    min_body_bytes_per_second: int = Field(
        1024,
        ge=1,
        description="Slowest average rate a request body may arrive at, after the first "
        "NUMCHECK_BODY_TIMEOUT_SECONDS (408 below): bodies dribbled a byte at a time are cut.",
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="Open connections one API server accepts; more are answered 503 and "
        "closed, so slow clients cannot exhaust file descriptors.",
    )
    result_link_ttl_seconds: int = Field(
        900, ge=1, description="Lifetime of a signed result link (default 15 minutes)."
    )
    chunk_lease_seconds: int = Field(
        20,
        ge=5,
        description="How long a job stays with its worker without a heartbeat before it is "
        "dispatched again; a worker renews the lease of the job in hand every quarter of it, "
        "so a killed worker costs about this long.",
    )
    chunk_max_attempts: int = Field(
        3, ge=1, description="Attempts at one chunk before its task fails (poison chunks)."
    )
    registry_key: SecretStr | None = Field(
        None,
        description="Hex key (32-128 hex digits) of the registry hashes; default: generated "
        "into `registry.key` in the data dir. Scale-out: set the same key everywhere.",
    )
    cache_dir: Path | None = Field(
        None,
        description="Where the compiled validator is cached (rebuilt when phonenumbers changes); "
        "default: `cache` in the data dir.",
    )
    default_credits: str = Field(
        "unlimited",
        description="Credits of new users: `unlimited` (no metering) or a whole number.",
    )
    rate_limit_per_second: float = Field(
        20.0, gt=0, description="Requests per second per API key, sustained (429 above)."
    )
    rate_limit_burst: int = Field(100, ge=1, description="Requests per API key in a burst.")
    rate_limit_redis_url: str | None = Field(
        None,
        description="Redis (`redis://host:6379/0`) holding the rate limiter's buckets, shared by "
        "every API server; default: each server's memory (right for the embedded default).",
    )
    max_active_tasks: int = Field(
        10, ge=1, description="Pending or processing tasks per user (429 above)."
    )
    retention_days: float = Field(
        7, gt=0, description="Days after which a task's files are deleted and it turns expired."
    )
    webhook_timeout_seconds: float = Field(
        10,
        gt=0,
        description="Total time one webhook attempt may take, connect to last byte; a slower "
        "receiver is retried later.",
    )
    webhook_concurrency: int = Field(
        8,
        ge=1,
        description="Webhook deliveries one API server makes at once, so one slow receiver "
        "never holds the others back.",
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow callback_url hosts on private, loopback or link-local addresses "
        "(off: such callbacks are refused, so tasks cannot be used to probe your network).",
    )
    housekeeping_interval_seconds: float = Field(
        60, gt=0, description="How often retention and clean-up run in the server."
    )
    log_level: str = Field("INFO", description="Log level of the server and workers.")
    log_format: Literal["plain", "json"] = Field(
        "plain",
        description="`plain`: one line a record, control characters escaped; `json`: one JSON "
        "object a line (time, level, logger, message, request_id, task_id, chunk).",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token Prometheus sends to scrape `GET /metrics` on the API port "
        "(`Authorization: Bearer <token>`); unset, `/metrics` is not served there.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="A separate port (on NUMCHECK_HOST) serving the metrics to anyone who can "
        "reach it, without a token: of `numcheck serve`, or of each `numcheck worker`.",
    )

    @property
    def sqlite_path(self) -> Path:
        """The embedded database's file."""
        return self.data_dir.resolve() / "numcheck.db"

    @property
    def db_url(self) -> str:
        """The database in use: NUMCHECK_DATABASE_URL, or SQLite in the data dir."""
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @model_validator(mode="after")
    def _a_mix_that_works(self) -> Settings:
        if self.storage_url and not self.database_url:
            raise ValueError(
                "NUMCHECK_STORAGE_URL puts blobs where every machine sees them, but the database "
                "is this machine's SQLite: set NUMCHECK_DATABASE_URL to a shared database too."
            )
        if self.broker_url and not self.database_url:
            raise ValueError(
                "NUMCHECK_BROKER_URL sends work to other processes, which cannot see this "
                "machine's SQLite: set NUMCHECK_DATABASE_URL to a shared database too."
            )
        if self.storage_url and not self.storage_url.startswith("s3://"):
            raise ValueError("NUMCHECK_STORAGE_URL must look like s3://bucket/prefix.")
        return self

    @field_validator("default_credits")
    @classmethod
    def _credits_or_unlimited(cls, value: str) -> str:
        if value.strip().lower() != "unlimited" and not (value.strip().isdigit()):
            raise ValueError("a whole number of credits or 'unlimited'")
        return value.strip().lower()

    @property
    def default_credit_amount(self) -> int | None:
        """Starting credits of a new user; None for unlimited."""
        return None if self.default_credits == "unlimited" else int(self.default_credits)

    @property
    def validator_cache_dir(self) -> Path:
        return (self.cache_dir or self.data_dir / "cache").resolve()

    @property
    def spool_dir(self) -> Path:
        """Uploads as they arrive, in anonymous temporary files (gone when closed)."""
        return self.data_dir.resolve() / "spool"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir.resolve() / "blobs"
