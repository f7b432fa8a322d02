"""An in-process pool of worker processes fed by a sweeper thread.

The sweeper asks `claim(free_slots)` for due jobs (the database decides what is due), hands them
to the pool and wakes again when a job ends, when `wake()` is called, or every `interval`
seconds. It knows nothing of what a job does.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

log = logging.getLogger(__name__)


def _exit_when_orphaned(parent: int) -> None:
    # A worker must not outlive a server killed with -9: it would keep working unsupervised.
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _start_worker(parent: int, initializer: Callable[..., None], args: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    initializer(*args)


class ProcessPoolDispatcher:
    def __init__(
        self,
        *,
        workers: int,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...],
        claim: Callable[[int], list[Any]],
        run: Callable[[Any], Any],
        on_error: Callable[[Any, BaseException], None],
        housekeeping: Callable[[], None] = lambda: None,
        interval: float = 1.0,
        housekeeping_interval: float = 60.0,
    ) -> None:
        self._workers = workers
        self._initializer = initializer
        self._initargs = initargs
        self._claim = claim
        self._run = run
        self._on_error = on_error
        self._interval = interval
        self._housekeeping = housekeeping
        self._housekeeping_interval = housekeeping_interval
        self._housekeeping_due = 0.0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._inflight = 0
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)

    def start(self) -> None:
        self._pool = self._new_pool()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=30)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def wake(self) -> None:
        self._wake.set()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            # spawn: the server process runs threads, which fork does not copy safely.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(), self._initializer, self._initargs),
        )

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self._fill()
            except Exception:
                log.exception("sweeper: claiming jobs failed; retrying")
            if time.monotonic() >= self._housekeeping_due:
                self._housekeeping_due = time.monotonic() + self._housekeeping_interval
                try:
                    self._housekeeping()
                except Exception:
                    log.exception("sweeper: housekeeping failed; retrying later")
            self._wake.wait(self._interval)

    def _fill(self) -> None:
        with self._lock:
            free = 2 * self._workers - self._inflight  # one running and one queued per worker
        if free <= 0:
            return
        for job in self._claim(free):
            assert self._pool is not None
            try:
                future = self._pool.submit(self._run, job)
            except BrokenProcessPool:
                self._replace_pool()
                future = self._pool.submit(self._run, job)
            with self._lock:
                self._inflight += 1
            future.add_done_callback(lambda f, job=job: self._done(job, f))

    def _done(self, job: Any, future: Future[Any]) -> None:
        with self._lock:
            self._inflight -= 1
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error(
                "job failed kind=%s task_id=%s: %s",
                getattr(job, "kind", "?"),
                getattr(job, "task_id", "?"),
                type(error).__name__,
            )
            if isinstance(error, BrokenProcessPool) and not self._stopping.is_set():
                self._replace_pool()
            try:
                self._on_error(job, error)
            except Exception:
                log.exception("releasing a failed job failed")
        self._wake.set()

    def _replace_pool(self) -> None:
        with self._lock:
            if self._pool is not None and not getattr(self._pool, "_broken", False):
                return
            log.warning("worker pool broken (a worker died); starting a new one")
            self._pool = self._new_pool()
