"""The per-process side of task jobs: open the process's context once, then run jobs against
it, keeping the lease of the job in hand alive with a heartbeat. The embedded pool's processes
and `numcheck worker`'s Celery children both run jobs through here."""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy.exc import SQLAlchemyError

from numcheck import checks, logs
from numcheck.config import Settings
from numcheck.logs import configure_logging
from numcheck.states import JobKind
from numcheck.tasks import jobs, queries
from numcheck.tasks.context import WorkerContext
from numcheck.tasks.jobs import Job
from numcheck.tasks.leases import Leases
from numcheck.telemetry import tracing

log = logging.getLogger(__name__)

HEARTBEATS_PER_LEASE = 4  # the setting's description promises "every quarter of it"


class Runner:
    """Runs jobs in this process: each under a heartbeat, a failed one handed back."""

    def __init__(self, context: WorkerContext) -> None:
        self.context = context
        self.leases = Leases(context.stores, context.lifecycle)
        self._release = IdleRelease()

    def run(self, job: Job) -> bool:
        """Do `job`; True when it completed its task's last chunk."""
        chunk = job.idx if job.kind == JobKind.CHUNK else None
        with logs.context(task_id=job.task_id, chunk=chunk), self._span(job, chunk):
            return self._run(job)

    def _span(self, job: Job, chunk: int | None) -> AbstractContextManager[None]:
        """The job's span, in the trace of the request that created its task."""
        if not tracing.enabled():
            return nullcontext()  # not even the query: tracing off costs nothing
        try:
            with self.context.stores.sessions.begin() as session:
                parent = tracing.parent_of(queries.trace_context(session, job.task_id))
        except SQLAlchemyError:  # the job itself will say what the database has; a span anyway
            parent = None
        attributes: dict[str, object] = {"numcheck.task_id": job.task_id}
        if chunk is not None:
            attributes["numcheck.chunk"] = chunk
        return tracing.span(f"numcheck.{job.kind}", parent, **attributes)

    def _run(self, job: Job) -> bool:
        self._release.cancel()
        try:
            started = time.perf_counter()
            with self.heartbeat(job):
                last = jobs.run(self.context, job)
            self._release.schedule()
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
            self._release.schedule()
            raise

    @contextmanager
    def heartbeat(self, job: Job) -> Iterator[None]:
        """Renew the job's lease at once and then every quarter of a lease while the block runs.

        A live worker so keeps its job however long it takes (no second dispatch, no double
        work), while a killed one stops renewing with its death: its job is dispatched again
        within about one lease. The first renewal also gives back the time the job waited in a
        queue.
        """
        every = self.context.stores.settings.chunk_lease_seconds / HEARTBEATS_PER_LEASE
        done = threading.Event()

        def beat() -> None:
            while True:
                try:
                    if not self.leases.renew(job):
                        return  # finished, handed back or dispatched again: nothing to keep
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

    def top_up(self, send: Callable[[Job], None]) -> None:
        """Lease the next due job and send it: a scale-out worker calls this after each job, so
        the queue stays full and a finalize starts at once, without waiting for a sweep."""
        try:
            for job in self.leases.claim(1):
                try:
                    send(job)
                except Exception:
                    self.leases.hand_back(job, spent=False)
                    raise
        except Exception as exc:
            # Harmless: the servers' sweepers dispatch whatever is due.
            log.warning("could not dispatch the next job (%s)", type(exc).__name__)


def _malloc_trim() -> Callable[[], object]:
    """glibc's malloc_trim(0), or nothing where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return lambda: None
    return lambda: trim(0)


_trim = _malloc_trim()


def release_memory() -> None:
    """Give a finished job's memory back to the system. A chunk's lines, answers and rendered
    rows are tens of MiB that the C allocator would otherwise keep (free, but resident) until
    the process ends: a worker at rest would stay at its per-chunk peak."""
    _trim()


IDLE_SECONDS = 0.2  # how long a worker waits for its next job before giving memory back


class IdleRelease:
    """`release_memory` once the worker has had no job for `IDLE_SECONDS`.

    Given back after every job, the heap is refaulted page by page by the next one (~8 ms of a
    chunk's ~150 ms on the development machine); jobs that follow one another keep it, and a
    worker at rest still gives it back a moment after its last job.
    """

    def __init__(self, seconds: float = IDLE_SECONDS) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def schedule(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._seconds, release_memory)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


# The one piece of per-process state: a pool process or Celery child opens it once (`init`)
# and runs every job it is given through it.
_runner: Runner | None = None


def init(settings: Settings) -> None:
    """Open this process's context (once per worker process)."""
    global _runner
    configure_logging(settings.log_level, settings.log_format)
    checks.prepare(settings.validator_cache_dir)
    checks.warm_up()  # what a first batch would otherwise load (the geocoder's tables)
    context = WorkerContext.open(settings)
    if tracing.configure("numcheck-worker"):
        tracing.instrument_engine(context.stores.engine)
        tracing.instrument_celery()  # a Celery child runs its messages in spans
    _runner = Runner(context)


def runner() -> Runner:
    assert _runner is not None, "runner.init was not called in this process"
    return _runner


def run(job: Job) -> bool:
    """Run `job` in this process (the embedded pool's entry point: a picklable function)."""
    return runner().run(job)
