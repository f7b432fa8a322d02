"""Scale-out smoke tests: `numcheck serve` sweeps, a `numcheck worker` (Celery) runs the checks,
on PostgreSQL, with Redis and with RabbitMQ as broker."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from tests.helpers import Server, broker, download_zip, fresh_postgres, submit, wait_for_status


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_a_task_runs_on_celery_workers(kind: str, tmp_path) -> None:
    with fresh_postgres() as database, broker(kind) as broker_url:
        env = {
            "NUMCHECK_DATABASE_URL": database,
            "NUMCHECK_BROKER_URL": broker_url,
            "NUMCHECK_CHUNK_LINES": "1000",
            "NUMCHECK_WORKERS": "2",
        }
        server = Server(tmp_path / "data", env=env)
        assert server.cli("db", "upgrade").returncode == 0
        server.start()
        try:
            numbers = [f"+4915112345{i:03d}" for i in range(1000)] * 5 + ["nope"]
            with server.client(server.admin_key) as client:
                task_id = submit(client, ("\n".join(numbers) + "\n").encode()).json()["task_id"]
                status = wait_for_status(client, task_id, timeout=120)
            assert (status["total"], status["success"], status["failure"]) == (5001, 5000, 1)
            rows = list(csv.reader(io.StringIO(download_zip(status)["results.csv"])))
            assert [row[0] for row in rows[1:]] == numbers[:-1]  # input order across chunks
            assert server.workers and all(w.poll() is None for w in server.workers)
            for worker in server.workers:
                # `numcheck worker` replaced itself (same pid) with the lean process that its
                # Celery children are forked from (worker_process.py).
                cmdline = Path(f"/proc/{worker.pid}/cmdline").read_bytes().split(b"\0")
                assert b"numcheck.worker_process" in cmdline, cmdline
        finally:
            server.stop()


def test_a_broker_without_a_shared_database_fails_at_start(tmp_path) -> None:
    server = Server(tmp_path / "data", env={"NUMCHECK_BROKER_URL": "redis://127.0.0.1:6379/9"})
    with pytest.raises(RuntimeError, match="set NUMCHECK_DATABASE_URL"):
        server.start(timeout=20)


def test_two_worker_processes_share_one_task(tmp_path) -> None:
    """Two `numcheck worker` processes (as on two machines) on one task: both run chunks, and
    the result is exact. (The same on 1,000,000 lines, timed: bench/scale.py.)"""
    numbers = [f"+1202555{i:07d}" if i % 1000 else "nope" for i in range(200_000)]
    with fresh_postgres() as database, broker("redis") as broker_url:
        env = {
            "NUMCHECK_DATABASE_URL": database,
            "NUMCHECK_BROKER_URL": broker_url,
            "NUMCHECK_CHUNK_LINES": "10000",
            "NUMCHECK_WORKERS": "1",
            "NUMCHECK_LOG_LEVEL": "INFO",
        }
        server = Server(tmp_path / "data", env=env, worker_count=2)
        assert server.cli("db", "upgrade").returncode == 0
        server.start()
        try:
            with server.client(server.admin_key) as client:
                task_id = submit(client, ("\n".join(numbers) + "\n").encode()).json()["task_id"]
                status = wait_for_status(client, task_id, timeout=180)
                files = download_zip(status)
        finally:
            server.stop()
    assert (status["total"], status["success"], status["failure"]) == (200_000, 199_800, 200)
    rows = list(csv.reader(io.StringIO(files["results.csv"])))[1:]
    assert [row[0] for row in rows] == [n for n in numbers if n != "nope"]
    failed = list(csv.reader(io.StringIO(files["failed.csv"])))[1:]
    assert [int(row[0]) for row in failed] == list(range(1, 200_000, 1000))
    chunks_by_worker = [
        set(re.findall(rf"job done kind=chunk task_id={task_id} chunk=(\d+)", log.read_text()))
        for log in server.worker_logs
    ]
    assert all(chunks_by_worker), "each worker process should have run chunks"
    assert set.union(*chunks_by_worker) == {str(i) for i in range(20)}
