"""The sweeper: a thread that asks for due jobs and hands them to a backend.

It wakes every `interval` seconds, or at once on `wake()`; every `housekeeping_interval`
seconds it also runs the periodic clean-up. Where jobs come from (`JobSource`: the database's
leases) and where they go (`JobBackend`: the in-process pool, or Celery) are small protocols;
the sweeper knows nothing of what a job does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, Literal, Protocol, TypeVar

log = logging.getLogger(__name__)

JobT = TypeVar("JobT")
JobT_contra = TypeVar("JobT_contra", contravariant=True)
WorkerState = Literal["ok", "starting", "failed", "none"]


class JobSource(Protocol[JobT]):
    def claim(self, limit: int) -> list[JobT]:
        """Lease up to `limit` due jobs."""
        ...

    def hand_back(self, job: JobT, *, spent: bool) -> None:
        """Make a job due again at once; `spent`: its attempt counts."""
        ...


class JobBackend(Protocol[JobT_contra]):
    def start(self, wake: Callable[[], None]) -> None:
        """Begin taking jobs; call `wake` when a job ends (there is room for the next)."""
        ...

    def stop(self) -> None: ...

    def capacity(self) -> int:
        """How many more jobs it can take now."""
        ...

    def workers(self) -> WorkerState:
        """The state of this process's own workers, for readiness (`none`: it has none)."""
        ...

    def submit(self, job: JobT_contra) -> None:
        """Run `job` (or queue it for a worker); raise if it cannot be sent."""
        ...


class Sweeper(Generic[JobT]):
    def __init__(
        self,
        backend: JobBackend[JobT],
        source: JobSource[JobT],
        *,
        housekeeping: Callable[[], None] = lambda: None,
        interval: float = 1.0,
        housekeeping_interval: float = 60.0,
    ) -> None:
        self._backend = backend
        self._source = source
        self._housekeeping = housekeeping
        self._interval = interval
        self._housekeeping_interval = housekeeping_interval
        self._housekeeping_due = 0.0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)

    def start(self) -> None:
        self._backend.start(self.wake)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self._backend.stop()

    def wake(self) -> None:
        self._wake.set()

    def workers(self) -> WorkerState:
        return self._backend.workers()

    def _dispatch(self, jobs: list[JobT]) -> None:
        for sent, job in enumerate(jobs):
            try:
                self._backend.submit(job)
            except Exception as exc:
                # Typically the broker is down: hand the rest back rather than let their leases
                # run out, and try again next round. (The error's type only: no URLs in logs.)
                log.error("sweeper: sending jobs failed (%s); retrying", type(exc).__name__)
                for unsent in jobs[sent:]:
                    self._source.hand_back(unsent, spent=False)
                return

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                free = self._backend.capacity()
                if free > 0:
                    self._dispatch(self._source.claim(free))
            except Exception:
                log.exception("sweeper: dispatching jobs failed; retrying")
            if time.monotonic() >= self._housekeeping_due:
                self._housekeeping_due = time.monotonic() + self._housekeeping_interval
                try:
                    self._housekeeping()
                except Exception:
                    log.exception("sweeper: housekeeping failed; retrying later")
            self._wake.wait(self._interval)
