"""Engine, sessions and migrations of the database."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, CursorResult, Engine, Result, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

# alembic is imported where migrations are read, not here: a worker process never migrates,
# and alembic with its templates is ~37 MiB of a worker's memory.

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL and writer-first transactions for many processes."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that later writes can
        # fail with "database is locked" without waiting, when another process wrote meanwhile.
        # A read-only transaction (`read_only_sessions`) never writes, so it takes no lock: in
        # WAL mode it reads its snapshot while a worker holds the write lock.
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


_READ_ONLY = "numcheck_read_only"


def read_only_sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions for transactions that only read (status calls, the health check); they must
    not write. On SQLite they do not queue for the write lock behind every worker's chunk;
    elsewhere they are ordinary sessions."""
    factory = sessionmaker(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)
    return factory


def create_private_sqlite_file(path: Path) -> None:
    """Create the SQLite database file owner-only (SQLite gives its -wal and -shm files the
    same mode): it holds webhook secrets and every user's tasks."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if companion.exists():  # made by an older numcheck with the umask's mode
            os.chmod(companion, 0o600)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for `with sessions.begin() as session:` — the one way numcheck opens a
    transaction: it commits when the block ends, rolls back when it raises, and then runs the
    block's after-commit hooks."""
    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "after_commit", _run_after_commit_hooks)
    event.listen(factory, "after_rollback", _drop_after_commit_hooks)
    return factory


_AFTER_COMMIT = "numcheck.after_commit"


def after_commit(session: Session, hook: Callable[[], object]) -> None:
    """Run `hook` once the session's transaction has committed, never if it rolls back: work
    that must follow the commit and must not happen without it (deleting a task's files,
    waking the sweeper for new work)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


def _run_after_commit_hooks(session: Session) -> None:
    for hook in session.info.pop(_AFTER_COMMIT, []):
        try:
            hook()
        except Exception:  # the commit stands; what failed here is retried by housekeeping
            log.exception("an after-commit step failed")


def _drop_after_commit_hooks(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision."""
    from alembic import command

    command.upgrade(_alembic_config(engine), "head")


class SchemaOutOfDate(RuntimeError):
    """The database's schema is older than this code."""


def prepare(engine: Engine, *, embedded: bool) -> None:
    """Embedded SQLite belongs to this installation: upgrade it. A shared database is upgraded
    by its operator (`numcheck db upgrade`), never implicitly by whichever process starts."""
    if embedded:
        upgrade(engine)
    elif not schema_is_current(engine):
        raise SchemaOutOfDate(
            "The database schema is older than this numcheck; run `numcheck db upgrade` first."
        )


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is at the newest revision this code knows."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(_alembic_config(engine)).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


# PostgreSQL error classes that mean "unreachable or busy, retry shortly": connection exceptions,
# the server shutting down or refusing connections now, too many connections, and transactions
# rolled back by a lock timeout, a serialization failure or a deadlock.
_PG_UNAVAILABLE_CLASSES = ("08",)
_PG_UNAVAILABLE_STATES = ("57P01", "57P02", "57P03", "53300", "55P03", "40001", "40P01")
_SQLITE_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN")


def is_unavailable(exc: DBAPIError) -> bool:
    """Whether a database error means it is unreachable or busy (worth a 503 and a retry), as
    opposed to a fault of the statement or the schema (a 500 to investigate)."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlite_name = getattr(orig, "sqlite_errorname", None)
    if sqlite_name is not None:
        return str(sqlite_name).startswith(_SQLITE_UNAVAILABLE)
    if type(orig).__module__.startswith("psycopg"):
        state = getattr(orig, "sqlstate", None)
        if state is None:  # not the server's answer: the connection failed, or psycopg refused
            return any(cls.__name__ == "OperationalError" for cls in type(orig).__mro__)
        return state.startswith(_PG_UNAVAILABLE_CLASSES) or state in _PG_UNAVAILABLE_STATES
    return False


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (Session.execute is typed as returning a plain Result,
    though for those statements it is a CursorResult)."""
    return cast(CursorResult[Any], result).rowcount
