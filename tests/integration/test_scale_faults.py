"""Scale-out under faults: PostgreSQL, a broker and `numcheck worker` processes, and whatever
can go wrong between them. Every run ends with exact counts, one result row per input line in
input order, no duplicates, and one charge.

These tests stop and restart the machine's own PostgreSQL, Redis and RabbitMQ (as the operator
of this test machine may); every one of them starts the service again whatever happens.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import Server, broker, download_zip, fresh_postgres, service_unavailable, submit

CREDITS = 10_000_000

pytestmark = pytest.mark.slow


@contextmanager
def cluster(tmp_path: Path, kind: str, *, workers: int = 2, **settings: object) -> Iterator[Server]:
    """An API server and `workers` worker processes (concurrency 1 each) on a database and a
    broker of their own. Short leases, so that lost work is re-dispatched within seconds."""
    env = {
        "NUMCHECK_CHUNK_LINES": "10000",
        "NUMCHECK_CHUNK_LEASE_SECONDS": "5",
        "NUMCHECK_WORKERS": "1",
        **{f"NUMCHECK_{name.upper()}": str(value) for name, value in settings.items()},
    }
    with fresh_postgres() as database, broker(kind) as broker_url:
        env |= {"NUMCHECK_DATABASE_URL": database, "NUMCHECK_BROKER_URL": broker_url}
        server = Server(tmp_path / "data", env=env, worker_count=workers)
        upgraded = server.cli("db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        server.start()
        try:
            yield server
        finally:
            server.stop()


def lines(count: int) -> list[str]:
    """Valid-looking numbers, with a malformed line every 997 lines (they go to failed.csv)."""
    return ["n/a" if i % 997 == 500 else f"+49151{i:08d}" for i in range(count)]


def metered_key(server: Server) -> str:
    key = server.create_key("bulk")
    assert server.cli("credits", "set", "bulk", str(CREDITS)).returncode == 0
    return key


def task_status(client: httpx.Client, task_id: str) -> dict | None:
    """The task's status, or None while the API cannot answer (a service is restarting)."""
    try:
        response = client.get(f"/v1/tasks/{task_id}")
    except httpx.TransportError:
        return None
    if response.status_code == 503:
        return None
    assert response.status_code == 200, response.text
    return response.json()


def submit_and_wait_until_counting(client: httpx.Client, numbers: list[str]) -> str:
    """Submit a task; return once its first chunk is counted and others remain (mid-way)."""
    task_id = submit(client, ("\n".join(numbers) + "\n").encode()).json()["task_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = task_status(client, task_id)
        if body and body["success"] > 0:
            assert body["status"] == "processing", body
            return task_id
        time.sleep(0.02)
    raise AssertionError("the task never started")


def wait_until_exported(client: httpx.Client, task_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    body: dict | None = None
    while time.monotonic() < deadline:
        body = task_status(client, task_id) or body
        if body and body["status"] == "exported":
            return body
        assert body is None or body["status"] in ("pending", "processing"), (
            body["status"],
            body.get("message"),
        )
        time.sleep(0.2)
    raise AssertionError(f"task still {body and body['status']} after {timeout}s")


def assert_exact(server: Server, client: httpx.Client, status: dict, numbers: list[str]) -> None:
    """Exact counts, one row per input line in input order, no duplicates, one charge."""
    malformed = [n for n, line in enumerate(numbers, 1) if line == "n/a"]
    valid = [line for line in numbers if line != "n/a"]
    assert (status["total"], status["success"], status["failure"]) == (
        len(numbers),
        len(valid),
        len(malformed),
    )
    files = download_zip(status)
    rows = list(csv.reader(io.StringIO(files["results.csv"])))[1:]
    assert [row[0] for row in rows] == valid
    failed = list(csv.reader(io.StringIO(files["failed.csv"])))[1:]
    assert [int(row[0]) for row in failed] == malformed

    account = client.get("/v1/account").json()["credits"]
    assert account["balance"] == CREDITS - len(valid) and account["reserved"] == 0, account
    with psycopg.connect(conninfo(server)) as db:
        movements = db.execute(
            "SELECT kind, count(*), sum(amount) FROM credit_ledger WHERE task_id = %s "
            "GROUP BY kind ORDER BY kind",
            (status["task_id"],),
        ).fetchall()
    assert movements == [
        ("charge", 1, len(valid)),
        ("release", 1, len(malformed)),
        ("reserve", 1, len(numbers)),
    ]


def conninfo(server: Server) -> str:
    return server.env["NUMCHECK_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


def children_of(pid: int) -> list[int]:
    return [
        int(child)
        for thread in Path(f"/proc/{pid}/task").iterdir()
        for child in (thread / "children").read_text().split()
    ]


def run_as_operator(*command: str) -> None:
    """A service command of this machine; missing tools skip (or fail under CI)."""
    if shutil.which(command[0]) is None:
        service_unavailable(f"`{command[0]}`", FileNotFoundError(command[0]))
    subprocess.run(command, check=True, capture_output=True, timeout=120)


# -- kill -9 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_kill_9_a_worker_every_3_seconds_until_the_task_is_done(tmp_path, kind) -> None:
    numbers = lines(600_000)
    # Every kill may cost the chunks in hand an attempt: allow more than the default 3.
    with cluster(tmp_path, kind, chunk_max_attempts=20) as server:
        with server.client(metered_key(server)) as client:
            task_id = submit_and_wait_until_counting(client, numbers)
            kills = 0
            while (task_status(client, task_id) or {}).get("status") != "exported":
                if kills % 2 == 0:
                    # A whole worker dies (its machine, say): a new one is started in its place.
                    server.kill_worker(server.workers[0])
                    server.start_worker()
                else:
                    # One prefork child dies (out of memory, say): Celery forks another.
                    newest = server.workers[-1]
                    for child in children_of(newest.pid):
                        os.kill(child, 9)
                kills += 1
                time.sleep(3)
            status = wait_until_exported(client, task_id)
            assert kills >= 2, f"the task finished after {kills} kill(s): make it longer"
            assert_exact(server, client, status, numbers)


# -- PostgreSQL ----------------------------------------------------------------------------------


def postgresql(action: str) -> None:
    cluster_version = next(iter(sorted(os.listdir("/etc/postgresql"))), None)
    if cluster_version is None:
        service_unavailable("PostgreSQL's cluster tools", FileNotFoundError("/etc/postgresql"))
    fast = ["-m", "fast"] if action == "stop" else []  # stop: cut every session at once
    run_as_operator(
        "pg_ctlcluster", "--skip-systemctl-redirect", cluster_version, "main", action, *fast
    )


def test_restart_postgresql_mid_task(tmp_path) -> None:
    numbers = lines(300_000)
    with cluster(tmp_path, "redis") as server:
        with server.client(metered_key(server)) as client:
            task_id = submit_and_wait_until_counting(client, numbers)
            postgresql("stop")
            try:
                # While it is down the API says so, with a time to come back.
                refused = client.get(f"/v1/tasks/{task_id}")
                assert refused.status_code == 503, refused.text
                assert refused.json()["code"] == "service_unavailable"
                assert refused.headers["Retry-After"] == "5"
                time.sleep(2)  # workers and sweeper fail against it meanwhile
            finally:
                postgresql("start")
            status = wait_until_exported(client, task_id)
            assert_exact(server, client, status, numbers)


# -- the broker ----------------------------------------------------------------------------------

REDIS_START = (
    "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' "
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


def restart_broker(kind: str, down_for: float) -> None:
    if kind == "redis":
        # Redis keeps nothing on disk here: every queued message is lost with it.
        run_as_operator("redis-cli", "-p", "6379", "shutdown", "nosave")
        try:
            time.sleep(down_for)
        finally:
            subprocess.run(REDIS_START, shell=True, check=True, timeout=60)
            for _ in range(100):
                if subprocess.run(["redis-cli", "ping"], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
        return
    run_as_operator("rabbitmqctl", "stop_app")
    try:
        time.sleep(down_for)
    finally:
        run_as_operator("rabbitmqctl", "start_app")


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_restart_the_broker_mid_task(tmp_path, kind) -> None:
    numbers = lines(300_000)
    # Down for longer than a lease, with 2 attempts per chunk: a message lost with the broker
    # costs a chunk its second attempt, so sends that fail meanwhile must not cost any.
    with cluster(tmp_path, kind, chunk_max_attempts=2) as server:
        with server.client(metered_key(server)) as client:
            task_id = submit_and_wait_until_counting(client, numbers)
            restart_broker(kind, down_for=8)
            status = wait_until_exported(client, task_id)
            assert_exact(server, client, status, numbers)


# -- a lost message ------------------------------------------------------------------------------


def test_a_dropped_chunk_message_is_recovered_by_the_sweeper(tmp_path) -> None:
    from numcheck.dispatch.celery import make_app

    numbers = lines(200_000)
    with cluster(tmp_path, "redis", workers=0) as server:
        with server.client(metered_key(server)) as client:
            task_id = submit(client, ("\n".join(numbers) + "\n").encode()).json()["task_id"]
            with psycopg.connect(conninfo(server), autocommit=True) as db:
                deadline = time.monotonic() + 30
                while not db.execute(
                    "SELECT count(*) FROM chunks WHERE task_id = %s AND leased_until IS NOT NULL",
                    (task_id,),
                ).fetchone()[0]:
                    assert time.monotonic() < deadline, "the sweeper dispatched nothing"
                    time.sleep(0.1)
                time.sleep(0.5)  # the sweeper's round has sent its messages
                # No worker runs yet: every dispatched chunk message is in the queue. Drop them.
                dropped = make_app(server.env["NUMCHECK_BROKER_URL"], 5).control.purge()
                assert dropped > 0
                server.start_worker()
                status = wait_until_exported(client, task_id)
                assert_exact(server, client, status, numbers)
                # Each dropped chunk ran only after its lease ran out and it was dispatched again.
                redispatched = db.execute(
                    "SELECT count(*) FROM chunks WHERE task_id = %s AND attempts = 2", (task_id,)
                ).fetchone()[0]
                assert redispatched == dropped
