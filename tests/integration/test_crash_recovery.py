"""Crashes of the embedded default: kill -9 of the server while a 300,000-line task runs (the
next start finishes it exactly), and kill -9 of one of its pool's worker processes (the task
goes on at once and finishes exactly)."""

import csv
import io
import os
import signal
import time
from pathlib import Path

import pytest

from tests.helpers import (
    assert_exact,
    download_zip,
    kill_as_it_progresses,
    lines,
    metered_key,
    submit,
    submit_lines,
    wait_for_status,
    wait_until_exported,
)

LINES = 300_000


def worker_pids_of(parent_pid: int) -> list[int]:
    """Processes whose parent is `parent_pid` (the pool's workers), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent_pid:
            children.append(int(stat.parent.name))
    return children


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.faults
def test_kill_9_mid_task_then_restart_finishes_exactly_once(start_server, tmp_path) -> None:
    data_dir = tmp_path / "data"
    numbers = [f"+49151{i:08d}" for i in range(LINES)]
    server = start_server(data_dir, chunk_lines=20_000)
    with server.client(server.admin_key) as client:
        task_id = submit(client, ("\n".join(numbers) + "\n").encode()).json()["task_id"]
        # Kill once some chunks are counted and others are still running.
        wait_until(
            lambda: client.get(f"/v1/tasks/{task_id}").json()["success"] >= 40_000,
            120,
            "the first chunks",
        )
    assert client is not None
    workers = worker_pids_of(server.process.pid)
    assert workers, "the pool should have worker processes"
    server.kill9()
    # Orphaned workers notice that their server is gone and stop.
    wait_until(lambda: not any(pid_alive(pid) for pid in workers), 10, "orphaned workers to exit")

    # Second crash, soon after the restart, while recovery is under way.
    server = start_server(data_dir, chunk_lines=20_000)
    time.sleep(1.0)
    server.kill9()

    server = start_server(data_dir, chunk_lines=20_000)
    with server.client(server.admin_key) as client:
        status = wait_for_status(client, task_id, timeout=300)
    assert (status["total"], status["success"], status["failure"]) == (LINES, LINES, 0)
    rows = list(csv.reader(io.StringIO(download_zip(status)["results.csv"])))
    assert len(rows) == LINES + 1
    assert [row[0] for row in rows[1:]] == numbers  # one row per line, in input order


def pool_workers_of(server_pid: int) -> list[int]:
    """The pool's worker processes (spawned), not multiprocessing's resource tracker."""
    return [
        pid
        for pid in worker_pids_of(server_pid)
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


@pytest.mark.slow
@pytest.mark.faults
def test_kill_9_of_a_pool_worker_mid_task_then_the_task_goes_on_exactly(start_server) -> None:
    """A worker process of the embedded pool dies (out of memory, say), twice during a task:
    each time the pool is replaced and the jobs it held are handed back at once (no lease to
    wait out), the counters move again within the bound, and the task ends with exact results
    and one charge."""
    numbers = lines(300_000)
    server = start_server(chunk_lines=10_000)  # with the default lease

    def kill(_: int) -> None:
        workers = pool_workers_of(server.process.pid)
        assert workers, "the pool should have worker processes"
        os.kill(workers[0], signal.SIGKILL)

    with server.client(metered_key(server)) as client:
        task_id = submit_lines(client, numbers)
        kill_as_it_progresses(client, task_id, [1 / 3, 2 / 3], kill)
        status = wait_until_exported(client, task_id)
        assert_exact(server, client, status, numbers)
    assert server.log().count("worker pool broken") == 2
