"""The embedded backend: an in-process pool of worker processes (one per core by default)."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.sharedctypes import Synchronized
from typing import Any, Generic

from numcheck.dispatch.sweeper import JobT, WorkerState

log = logging.getLogger(__name__)


def _exit_when_orphaned(parent: int) -> None:
    # A worker must not outlive a server killed with -9: it would keep working unsupervised.
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _ready() -> None:
    """A job that does nothing: sent once per worker as a pool starts, so that its processes
    start (and run their initializer) before the first real job comes."""


def _start_worker(
    parent: int,
    nice: int,
    started: Synchronized[int],
    initializer: Callable[..., None],
    args: tuple[Any, ...],
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    if nice:  # below the API beside it: a status call is not queued behind a chunk's checks
        os.nice(nice)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    initializer(*args)
    with started.get_lock():
        started.value += 1


class ProcessPool(Generic[JobT]):
    """Runs jobs in `workers` processes of this machine (the embedded default's backend). Its
    processes start with it (and with each replacement), not with the first job: a spawned
    process's imports and initializer take about half a second, which the first task would
    otherwise wait for. A job whose process dies is reported to `on_error`, and the pool is
    replaced at once."""

    def __init__(
        self,
        *,
        workers: int,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...],
        run: Callable[[JobT], object],
        on_error: Callable[[JobT, BaseException], None],
        nice: int = 0,
    ) -> None:
        self._workers = workers
        self._nice = nice
        self._initializer = initializer
        self._initargs = initargs
        self._run = run
        self._on_error = on_error
        self._inflight = 0
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._starting: list[Future[object]] = []  # the current pool's no-op jobs, one a worker
        self._started: Synchronized[int] | None = None  # how many of its processes are up
        self._wake: Callable[[], None] = lambda: None
        self._stopping = False

    def start(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        with self._lock:
            self._pool = self._new_pool()

    def stop(self) -> None:
        self._stopping = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            # Dropped now, so its semaphore is unlinked now: a server stopped by a signal exits
            # without running finalizers, and the resource tracker would report it leaked.
            self._pool, self._started, self._starting = None, None, []

    def workers(self) -> WorkerState:
        """`ok` once every process of the current pool has started; `starting` until then;
        `failed` when a process died or its initializer raised before it could take a job."""
        with self._lock:
            starting, started = list(self._starting), self._started
        if any(f.done() and (f.cancelled() or f.exception()) for f in starting):
            return "failed"  # the pool broke: a process died or its initializer raised
        # Counted by the processes themselves: the first one up may run every no-op job.
        return "ok" if started is not None and started.value >= self._workers else "starting"

    def capacity(self) -> int:
        with self._lock:
            return 2 * self._workers - self._inflight  # one running and one queued per worker

    def submit(self, job: JobT) -> None:
        pool = self._current_pool()
        try:
            future = pool.submit(self._run, job)
        except BrokenProcessPool:
            # A worker died a moment ago and its pool's futures have not all reported it yet.
            pool = self._replace_pool(pool)
            future = pool.submit(self._run, job)
        with self._lock:
            self._inflight += 1
        future.add_done_callback(functools.partial(self._done, job, pool))

    def _current_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                raise RuntimeError("the worker pool is not running: start() first")
            return self._pool

    def _new_pool(self) -> ProcessPoolExecutor:
        """A pool whose processes start now (called with the lock held). The executor starts a
        process for each job sent while none is idle: one no-op job a worker starts them all."""
        # spawn: the server process runs threads, which fork does not copy safely.
        context = multiprocessing.get_context("spawn")
        self._started = context.Value("i", 0)
        pool = ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(os.getpid(), self._nice, self._started, self._initializer, self._initargs),
        )
        self._starting = [pool.submit(_ready) for _ in range(self._workers)]
        return pool

    def _done(self, job: JobT, pool: ProcessPoolExecutor, future: Future[object]) -> None:
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
            if isinstance(error, BrokenProcessPool) and not self._stopping:
                self._replace_pool(pool)
            try:
                self._on_error(job, error)
            except Exception:
                log.exception("handing back a failed job failed")
        self._wake()

    def _replace_pool(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        """Replace `broken` with a new pool, once: every future of a broken pool fails with it
        and reports it here, and by then the current pool may already be its replacement. (The
        broken pool has stopped its other workers and freed its resources itself.)"""
        with self._lock:
            if self._pool is broken and not self._stopping:
                log.warning("worker pool broken (a worker died); starting a new one")
                self._pool = self._new_pool()
            if self._pool is None:
                raise RuntimeError("the worker pool is stopped")
            return self._pool
