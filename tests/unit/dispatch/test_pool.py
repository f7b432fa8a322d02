"""The embedded pool with real worker processes: a worker killed with -9 breaks its pool; the
sweeper hands the pool's jobs back, starts one new pool, and goes on running jobs."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from numcheck.dispatch.pool import ProcessPool
from numcheck.dispatch.sweeper import Sweeper

JOBS = [f"job-{n}" for n in range(6)]


def no_setup(_: object) -> None:
    pass


def slow_job(spec: tuple[Path, str]) -> None:
    """Say which process runs the job, take a while, then say it is done."""
    scratch, name = spec
    (scratch / f"running-{name}-{os.getpid()}").touch()
    time.sleep(1.0)
    (scratch / f"done-{name}").touch()


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_killed_worker_breaks_its_pool_once_and_its_jobs_run_again(tmp_path, caplog) -> None:
    due = deque((tmp_path, name) for name in JOBS)
    handed_back: list[tuple[str, type[BaseException]]] = []
    lock = threading.Lock()

    class Queue:
        """The job source: a queue in memory instead of the database's leases."""

        def claim(self, limit: int) -> list[tuple[Path, str]]:
            with lock:
                return [due.popleft() for _ in range(min(limit, len(due)))]

        def hand_back(self, job: tuple[Path, str], *, spent: bool) -> None:
            with lock:
                due.append(job)

    queue = Queue()

    def on_error(job: tuple[Path, str], error: BaseException) -> None:
        handed_back.append((job[1], type(error)))
        queue.hand_back(job, spent=True)  # as the server does: the job is due again at once

    pool = ProcessPool(
        workers=2, initializer=no_setup, initargs=(None,), run=slow_job, on_error=on_error
    )
    dispatcher = Sweeper(pool, queue, interval=0.05)
    caplog.set_level(logging.WARNING, logger="numcheck.dispatch.pool")
    dispatcher.start()
    try:
        wait_for(lambda: len(list(tmp_path.glob("running-*"))) >= 2, 60, "two jobs running")
        victim = int(next(tmp_path.glob("running-*")).name.rsplit("-", 1)[1])
        os.kill(victim, signal.SIGKILL)

        wait_for(lambda: all((tmp_path / f"done-{n}").exists() for n in JOBS), 60, "all jobs")
    finally:
        dispatcher.stop()

    # Both jobs in hand (and any queued behind them) failed with the pool and were handed back.
    assert len(handed_back) >= 2
    assert {error for _, error in handed_back} == {BrokenProcessPool}
    replaced = [r for r in caplog.records if "worker pool broken" in r.getMessage()]
    assert len(replaced) == 1, "one dead worker, one new pool"


def nice_job(spec: tuple[Path, str]) -> None:
    """Say at which niceness the job runs."""
    scratch, name = spec
    (scratch / f"nice-{name}").write_text(str(os.nice(0)))


def test_workers_run_below_the_server_at_the_given_niceness(tmp_path) -> None:
    due = deque([(tmp_path, "a")])

    class Queue:
        def claim(self, limit: int) -> list[tuple[Path, str]]:
            return [due.popleft() for _ in range(min(limit, len(due)))]

        def hand_back(self, job: tuple[Path, str], *, spent: bool) -> None:
            due.append(job)

    pool = ProcessPool(
        workers=1,
        initializer=no_setup,
        initargs=(None,),
        run=nice_job,
        on_error=lambda job, error: None,
        nice=7,
    )
    dispatcher = Sweeper(pool, Queue(), interval=0.05)
    dispatcher.start()
    try:
        wait_for(lambda: (tmp_path / "nice-a").exists(), 60, "the job")
    finally:
        dispatcher.stop()
    assert int((tmp_path / "nice-a").read_text()) == os.nice(0) + 7


def mark_started(scratch: Path) -> None:
    (scratch / f"started-{os.getpid()}").touch()


def refuse_to_start(_: object) -> None:
    raise RuntimeError("the validator cache is unreadable")


@contextmanager
def started_pool(
    workers: int, initializer: Callable[[Any], None], argument: object
) -> Iterator[ProcessPool[tuple[Path, str]]]:
    """A pool of `workers` processes that ran `initializer(argument)`, started for the block
    (no job sent to it)."""
    pool: ProcessPool[tuple[Path, str]] = ProcessPool(
        workers=workers,
        initializer=initializer,
        initargs=(argument,),
        run=slow_job,
        on_error=lambda job, error: None,
    )
    pool.start(lambda: None)
    try:
        yield pool
    finally:
        pool.stop()


def test_the_workers_start_with_the_pool_before_any_job_and_only_once(tmp_path: Path) -> None:
    with started_pool(2, mark_started, tmp_path) as pool:
        assert pool.workers() == "starting"  # a spawned process takes a while to import
        wait_for(lambda: pool.workers() == "ok", 60, "the workers up")
        assert len(list(tmp_path.glob("started-*"))) == 2
        assert pool.capacity() == 4, "the no-op start-up jobs are not jobs of the sweeper's"
        time.sleep(0.5)
        assert len(list(tmp_path.glob("started-*"))) == 2, "nothing more is started"


def test_workers_that_cannot_start_make_the_pool_failed() -> None:
    with started_pool(1, refuse_to_start, None) as pool:
        wait_for(lambda: pool.workers() != "starting", 60, "the start-up to end")
        assert pool.workers() == "failed"
