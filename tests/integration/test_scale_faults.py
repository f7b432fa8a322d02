"""Scale-out under faults: PostgreSQL, a broker and `numcheck worker` processes, and whatever
can go wrong between them. Every run ends with exact counts, one result row per input line in
input order, no duplicates, and one charge.

Faults are timed by the task's progress (its counters), never by the clock, so that a run means
the same on a fast machine and a slow one. The restart tests stop and restart the machine's own
PostgreSQL, Redis and RabbitMQ (as the operator of this test machine may); every one of them
starts the service again whatever happens.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.helpers import (
    BUCKET,
    RECOVERY_BOUND,
    Server,
    assert_exact,
    broker,
    conninfo,
    counted,
    fresh_postgres,
    kill_as_it_progresses,
    lines,
    metered_key,
    service_unavailable,
    submit,
    submit_and_wait_until_counting,
    submit_lines,
    task_status,
    wait_for_progress,
    wait_until_exported,
)

SHORT_LEASE = 5  # seconds, the shortest allowed: lost work comes back within seconds

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@contextmanager
def cluster(tmp_path: Path, kind: str, *, workers: int = 2, **settings: object) -> Iterator[Server]:
    """An API server on a PostgreSQL database of its own, with a broker of its own (`kind`
    "redis" or "rabbitmq") and `workers` `numcheck worker` processes of concurrency 1 each, or
    (`kind` "pool") running the jobs in its own in-process pool of `workers` processes. Leases
    are short unless a test passes `chunk_lease_seconds=None` (the default lease)."""
    pool_size = workers if kind == "pool" else 1
    settings = {
        "chunk_lines": 10_000,
        "chunk_lease_seconds": SHORT_LEASE,
        "workers": pool_size,
    } | settings
    env = {
        f"NUMCHECK_{name.upper()}": str(value)
        for name, value in settings.items()
        if value is not None
    }
    with ExitStack() as stack:
        env["NUMCHECK_DATABASE_URL"] = stack.enter_context(fresh_postgres())
        if kind != "pool":
            env["NUMCHECK_BROKER_URL"] = stack.enter_context(broker(kind))
        server = Server(tmp_path / "data", env=env, worker_count=workers)
        upgraded = server.cli("db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        server.start()
        stack.callback(server.stop)
        yield server


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # leases are stored as naive UTC


def leased_chunks(db: psycopg.Connection, task_id: str) -> list[int]:
    """Chunks of the task that a worker holds now: pending, under a lease not yet run out."""
    return [
        idx
        for (idx,) in db.execute(
            "SELECT idx FROM chunks WHERE task_id = %s AND status = 'pending' "
            "AND leased_until > %s ORDER BY idx",
            (task_id, utc_now()),
        )
    ]


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


# -- heartbeats ----------------------------------------------------------------------------------

_HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding"}


class HeldS3:
    """A proxy in front of the S3 server that holds the reads a test picks (a chunk's ranged GET
    of its upload, a finalize's GET of a part) until `release()`: a job that runs as long as the
    test wants, with no hook in numcheck. (S3 is a boundary numcheck does not own.)"""

    def __init__(self, upstream: str, holds: Callable[[str, str], bool]) -> None:
        self.held: list[tuple[str, str]] = []  # (path, Range) of every read held so far
        self._holds = holds
        self._released = threading.Event()
        self._upstream = urlsplit(upstream).netloc
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self) -> None:
                body = self._body()
                reading = self.headers.get("Range", "")
                if self.command == "GET" and proxy._holds(self.path, reading):
                    proxy.held.append((self.path, reading))
                    proxy._released.wait(120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if body is not None:
                    headers["Content-Length"] = str(len(body))
                upstream = http.client.HTTPConnection(proxy._upstream, timeout=120)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    self.send_response(response.status, response.reason)
                    for name, value in response.getheaders():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                        elif name.lower() == "content-length" and self.command == "HEAD":
                            self.send_header(name, value)  # the object's size, no body
                    if self.command != "HEAD":
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    upstream.close()

            def _body(self) -> bytes | None:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                length = self.headers.get("Content-Length")
                return self.rfile.read(int(length)) if length else None

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward

            def log_message(self, *_: object) -> None:
                pass

        return Forward


@contextmanager
def held_s3(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, holds: Callable[[str, str], bool]
) -> Iterator[HeldS3]:
    """Blobs in the test S3 server, reached by every process through a HeldS3 proxy."""
    proxy = HeldS3(s3_endpoint, holds)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)  # servers and workers start with it
    try:
        yield proxy
    finally:
        proxy.close()


def wait_until_held(proxy: HeldS3, count: int) -> None:
    deadline = time.monotonic() + 120
    while len(proxy.held) < count:
        assert time.monotonic() < deadline, f"{len(proxy.held)} of {count} reads were held"
        time.sleep(0.05)


def is_upload_read(path: str, reading: str) -> bool:
    """A chunk job reading its lines: a ranged GET of the task's upload."""
    return "/uploads/" in path and bool(reading)


def is_part_read(path: str, _: str) -> bool:
    """A finalize reading the chunks' results to zip them."""
    return "/parts/" in path


def storage_url() -> str:
    return f"s3://{BUCKET}/faults-{uuid.uuid4().hex[:8]}"


# The heartbeat is the same code in both backends (tasks/runner.py): the chunk case runs in a
# Celery worker (whose broker could also redeliver), the finalize case in the embedded pool.
@pytest.mark.parametrize("kind", ["redis"])
def test_a_chunk_in_hand_keeps_its_lease_however_long_it_runs(
    tmp_path, kind, s3_endpoint, monkeypatch
) -> None:
    """A worker stuck in a chunk for several leases (its read of the upload held) renews the
    lease all along, in the embedded pool and in a Celery worker: the chunk is never taken from
    it and dispatched again, so it is never done twice."""
    numbers = lines(30_000)
    with (
        held_s3(s3_endpoint, monkeypatch, is_upload_read) as s3,
        cluster(tmp_path, kind, workers=1, storage_url=storage_url()) as server,
        server.client(metered_key(server)) as client,
        psycopg.connect(conninfo(server), autocommit=True) as db,
    ):
        task_id = submit_lines(client, numbers)
        try:
            wait_until_held(s3, 1)
            time.sleep(2 * SHORT_LEASE)  # the lease taken at dispatch has long run out
            ((_, reading),) = s3.held  # one worker process: one chunk in hand
            start_byte = int(reading.removeprefix("bytes=").split("-")[0])
            idx, attempts, leased_until = db.execute(
                "SELECT idx, attempts, leased_until FROM chunks "
                "WHERE task_id = %s AND start_byte = %s",
                (task_id, start_byte),
            ).fetchone()
            assert leased_until > utc_now(), "the lease of the chunk in hand ran out"
            assert attempts == 1, "the chunk in hand was dispatched again"
        finally:
            s3.release()  # (also before the cluster stops, should an assertion fail)
        status = wait_until_exported(client, task_id)
        assert_exact(server, client, status, numbers)
        assert db.execute(
            "SELECT attempts FROM chunks WHERE task_id = %s AND idx = %s", (task_id, idx)
        ).fetchone() == (1,)


@pytest.mark.parametrize("kind", ["pool"])
def test_a_finalize_in_hand_keeps_its_lease_however_long_it_runs(
    tmp_path, kind, s3_endpoint, monkeypatch
) -> None:
    """A finalize stuck for several leases (its read of the first part held) renews its lease:
    no second finalize starts on the idle second worker process meanwhile."""
    numbers = lines(30_000)
    with (
        held_s3(s3_endpoint, monkeypatch, is_part_read) as s3,
        cluster(tmp_path, kind, workers=2, storage_url=storage_url()) as server,
        server.client(metered_key(server)) as client,
    ):
        task_id = submit_lines(client, numbers)
        try:
            wait_until_held(s3, 1)
            time.sleep(2 * SHORT_LEASE)  # the lease taken at dispatch has long run out
            assert len(s3.held) == 1, f"the finalize was dispatched again: {s3.held}"
            status = task_status(client, task_id)
            assert status and (status["status"], counted(status)) == ("processing", len(numbers))
        finally:
            s3.release()  # (also before the cluster stops, should an assertion fail)
        status = wait_until_exported(client, task_id)
        assert_exact(server, client, status, numbers)


# -- kill -9 -------------------------------------------------------------------------------------


def kill_a_prefork_child(server: Server) -> None:
    """One prefork child of a `numcheck worker` dies (out of memory, say): Celery forks another."""
    deadline = time.monotonic() + 60
    while not (busy := [w for w in server.workers if children_of(w.pid)]):
        assert time.monotonic() < deadline, "no worker has started its processes"
        time.sleep(0.1)
    for child in children_of(busy[0].pid):
        os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_kill_9_workers_as_the_task_progresses_until_it_is_done(tmp_path, kind) -> None:
    numbers = lines(400_000)
    # Every kill may cost the chunks in hand an attempt: allow more than the default 3.
    with (
        cluster(tmp_path, kind, chunk_max_attempts=20) as server,
        server.client(metered_key(server)) as client,
    ):
        task_id = submit_lines(client, numbers)

        def kill(n: int) -> None:
            if n % 2 == 0:
                # A whole worker dies (its machine, say): a new one is started in its place.
                server.kill_worker(server.workers[0])
                server.start_worker()
            else:
                kill_a_prefork_child(server)

        kill_as_it_progresses(client, task_id, [0.25, 0.5, 0.75], kill)
        status = wait_until_exported(client, task_id)
        assert_exact(server, client, status, numbers)


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_the_work_of_a_killed_worker_is_done_again_within_45_s_with_the_default_lease(
    tmp_path, kind
) -> None:
    """kill -9 of a whole worker (its processes with it) in the middle of a task, with the
    default lease: the chunk it held is done again within RECOVERY_BOUND seconds (it once waited
    out a 300 s lease, the progress bar frozen), and the task ends exact."""
    numbers = lines(150_000)
    with (
        cluster(tmp_path, kind, workers=1, chunk_lease_seconds=None) as server,
        server.client(metered_key(server)) as client,
        psycopg.connect(conninfo(server), autocommit=True) as db,
    ):
        task_id = submit_and_wait_until_counting(client, numbers)
        server.kill_worker(server.workers[0])
        killed_at = time.monotonic()
        lost = leased_chunks(db, task_id)  # in the dead worker's hands, or queued for it
        assert lost, "the worker held no chunk when it died"
        before = counted(task_status(client, task_id) or {"success": 0, "failure": 0})
        server.start_worker()  # its replacement, as on a machine that restarts it

        wait_for_progress(
            client, task_id, lambda status: counted(status) > before, RECOVERY_BOUND, "progress"
        )
        while db.execute(
            "SELECT count(*) FROM chunks WHERE task_id = %s AND idx = ANY(%s) "
            "AND status = 'pending'",
            (task_id, lost),
        ).fetchone()[0]:
            waited = time.monotonic() - killed_at
            assert waited < RECOVERY_BOUND, f"the dead worker's chunks still wait: {lost}"
            time.sleep(0.1)
        status = wait_until_exported(client, task_id)
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
    numbers = lines(150_000)
    with cluster(tmp_path, "redis") as server, server.client(metered_key(server)) as client:
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
    numbers = lines(150_000)
    # Down for longer than a lease, with 2 attempts per chunk: a message lost with the broker
    # costs a chunk its second attempt, so sends that fail meanwhile must not cost any.
    with (
        cluster(tmp_path, kind, chunk_max_attempts=2) as server,
        server.client(metered_key(server)) as client,
    ):
        task_id = submit_and_wait_until_counting(client, numbers)
        restart_broker(kind, down_for=8)
        status = wait_until_exported(client, task_id)
        assert_exact(server, client, status, numbers)


# -- a lost message ------------------------------------------------------------------------------


def test_a_dropped_chunk_message_is_recovered_by_the_sweeper(tmp_path) -> None:
    from numcheck.dispatch.celery import make_app

    numbers = lines(100_000)
    with (
        cluster(tmp_path, "redis", workers=0) as server,
        server.client(metered_key(server)) as client,
    ):
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
            dropped = make_app(server.env["NUMCHECK_BROKER_URL"]).control.purge()
            assert dropped > 0
            server.start_worker()
            status = wait_until_exported(client, task_id)
            assert_exact(server, client, status, numbers)
            # Each dropped chunk ran only after its lease ran out and it was dispatched again.
            redispatched = db.execute(
                "SELECT count(*) FROM chunks WHERE task_id = %s AND attempts = 2", (task_id,)
            ).fetchone()[0]
            assert redispatched == dropped
