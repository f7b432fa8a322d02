"""The per-process side of task jobs: open the stores once, then run jobs against them, keeping
the lease of the job in hand alive with a heartbeat."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from numcheck import checks
from numcheck.config import Settings
from numcheck.logs import configure_logging
from numcheck.storage.stores import Stores
from numcheck.tasks import scheduling

log = logging.getLogger(__name__)
_stores: Stores | None = None

HEARTBEATS_PER_LEASE = 4  # the setting's description promises "every quarter of it"


def init(settings: Settings) -> None:
    """Open this process's database connections and blob store (once per worker process)."""
    global _stores
    configure_logging(settings.log_level)
    checks.prepare(settings.validator_cache_dir)
    _stores = Stores.open(settings)


def release(job: scheduling.Job) -> None:
    """Make a job that failed here due again at once."""
    assert _stores is not None
    scheduling.release(_stores, job)


def run(job: scheduling.Job) -> bool:
    assert _stores is not None, "worker.init was not called in this process"
    try:
        started = time.perf_counter()
        with heartbeat(_stores, job):
            last = scheduling.run(_stores, job)
        log.info(
            "job done kind=%s task_id=%s chunk=%s in %.0f ms",
            job.kind,
            job.task_id,
            job.idx,
            (time.perf_counter() - started) * 1000,
        )
        return last
    except Exception:
        # The traceback names code, not data: no line of the file is ever put in an exception.
        log.exception("job failed kind=%s task_id=%s", job.kind, job.task_id)
        raise


@contextmanager
def heartbeat(stores: Stores, job: scheduling.Job) -> Iterator[None]:
    """Renew the job's lease at once and then every quarter of a lease while the block runs.

    A live worker so keeps its job however long it takes (no second dispatch, no double work),
    while a killed one stops renewing with its death: its job is dispatched again within about
    one lease. The first renewal also gives back the time the job waited in a queue.
    """
    every = stores.settings.chunk_lease_seconds / HEARTBEATS_PER_LEASE
    done = threading.Event()

    def beat() -> None:
        while True:
            try:
                if not scheduling.renew(stores, job):
                    return  # finished, handed back or dispatched again: nothing left to keep
            except SQLAlchemyError as exc:
                # The database may be restarting; three more beats fit in the lease.
                log.warning(
                    "could not renew the lease kind=%s task_id=%s chunk=%s (%s)",
                    job.kind,
                    job.task_id,
                    job.idx,
                    type(exc).__name__,
                )
            if done.wait(every):
                return

    thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()  # no renewal may land after the caller hands the job back


def top_up(send: Callable[[scheduling.Job], None]) -> None:
    """Lease the next due job and send it: a scale-out worker calls this after each job, so the
    queue stays full and a finalize starts at once, without waiting for a server's sweep."""
    assert _stores is not None
    try:
        for job in scheduling.claim(_stores, 1):
            try:
                send(job)
            except Exception:
                scheduling.unclaim(_stores, job)
                raise
    except Exception as exc:
        # Harmless: the servers' sweepers dispatch whatever is due.
        log.warning("could not dispatch the next job (%s)", type(exc).__name__)
