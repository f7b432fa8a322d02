"""Helpers shared by the suite: real server processes on 127.0.0.1, fresh databases and brokers,
and the steps tests take against them. Fixtures live in conftest.py and use these."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def numcheck_cli(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `numcheck` command on a data dir, as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "numcheck", *args],
        env={**os.environ, "NUMCHECK_DATA_DIR": str(data_dir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class Server:
    """A `numcheck serve` process on its own data dir and port."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    worker_count: int = 1  # `numcheck worker` processes started with a broker configured
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_key(self) -> str:
        return (self.data_dir / "admin-key.txt").read_text().strip()

    def start(self, timeout: float = 30) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"server-{self.port}-{time.monotonic_ns()}.log"
        env = {**os.environ, "NUMCHECK_DATA_DIR": str(self.data_dir), **self.env}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "numcheck", "serve", "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if "NUMCHECK_BROKER_URL" in env and not self.workers:
            # Scale-out mode: the server only sweeps; `numcheck worker` processes run the checks.
            for _ in range(self.worker_count):
                self.start_worker()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy:\n{self.log()}")

    def start_worker(self) -> subprocess.Popen[bytes]:
        """One more `numcheck worker` (Celery), in a process group of its own, as if on a
        machine of its own: `kill_worker` takes down its prefork children with it."""
        env = {**os.environ, "NUMCHECK_DATA_DIR": str(self.data_dir), **self.env}
        log_path = self.data_dir.parent / f"worker-{self.port}-{len(self.worker_logs)}.log"
        self.worker_logs.append(log_path)
        with open(log_path, "ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "numcheck", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen[bytes]) -> None:
        """kill -9 a worker and all its processes, as a machine dying would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        self.workers.remove(worker)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        self.workers = []
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client(self, key: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run an operator command against this server's data dir and database."""
        return numcheck_cli(self.data_dir, *args, env=self.env)

    def create_key(self, user: str, *, admin: bool = False) -> str:
        args = ["keys", "create", "--user", user] + (["--admin"] if admin else [])
        result = self.cli(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]


POSTGRES_ADMIN_URL = os.environ.get(
    "NUMCHECK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def service_unavailable(what: str, error: Exception) -> None:
    """Outside CI a missing service skips its tests (saying why); under CI it fails them."""
    message = f"{what} is unreachable ({type(error).__name__}: {error})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A PostgreSQL database of its own, dropped afterwards."""
    import psycopg

    name = f"numcheck_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        service_unavailable("PostgreSQL at " + POSTGRES_ADMIN_URL.split("@")[-1], exc)
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _redis_database() -> Iterator[int]:
    """A Redis database number no other live test holds, in this process or another (two
    test runs at once): claimed with SET NX in database 0, released afterwards."""
    import redis

    claims = redis.Redis(host="127.0.0.1", port=6379, db=0, socket_timeout=5)
    token = uuid.uuid4().hex
    deadline = time.monotonic() + 120
    try:
        while True:
            for number in random.sample(range(1, 16), 15):
                if claims.set(f"numcheck-test:redis-db:{number}", token, nx=True, ex=3600):
                    break
            else:
                if time.monotonic() > deadline:
                    raise RuntimeError("every Redis test database is claimed")
                time.sleep(0.5)
                continue
            break
    except redis.RedisError as exc:
        service_unavailable("Redis at 127.0.0.1:6379", exc)
    try:
        yield number
    finally:
        key = f"numcheck-test:redis-db:{number}"
        with contextlib.suppress(redis.RedisError):
            if claims.get(key) == token.encode():
                claims.delete(key)


@contextmanager
def broker(kind: str) -> Iterator[str]:
    """A broker of our own: a Redis database number, or a RabbitMQ virtual host."""
    if kind == "redis":
        import redis

        # One database number per live broker: two clusters sharing one would take each other's
        # messages (and a worker of the other's database acks them as unknown work).
        with _redis_database() as number:
            try:
                redis.Redis(host="127.0.0.1", port=6379, db=number, socket_timeout=5).flushdb()
            except redis.RedisError as exc:
                service_unavailable("Redis at 127.0.0.1:6379", exc)
            yield f"redis://127.0.0.1:6379/{number}"
        return
    vhost = f"numcheck-test-{uuid.uuid4().hex[:12]}"
    created = subprocess.run(
        ["rabbitmqctl", "-q", "add_vhost", vhost], capture_output=True, text=True
    )
    if created.returncode != 0:
        service_unavailable("RabbitMQ at 127.0.0.1:5672", RuntimeError(created.stderr.strip()))
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)


BUCKET = "numcheck-test"


ALL_MODES = ("sqlite", "postgresql", "celery-redis", "celery-rabbitmq")
# NUMCHECK_TEST_MODES=sqlite (or a comma-separated list) runs the shared-server tests in those
# modes only: a quick local run. CI runs all four.
MODES = [
    mode
    for mode in os.environ.get("NUMCHECK_TEST_MODES", ",".join(ALL_MODES)).split(",")
    if mode in ALL_MODES
]


def in_modes(*modes: str) -> pytest.MarkDecorator:
    """Run a test on the shared server of these modes only (those of them selected): for tests
    of the API's edges (client, CLI, dashboard, guards) that the task machinery behind it does
    not change."""
    selected = [mode for mode in modes if mode in MODES]
    if not selected:
        return pytest.mark.skip(
            reason=f"runs in {', '.join(modes)}; NUMCHECK_TEST_MODES leaves out"
        )
    return pytest.mark.parametrize("server", selected, indirect=True)


def wait_for_status(
    client: httpx.Client,
    task_id: str,
    statuses: tuple[str, ...] = ("exported",),
    timeout: float = 120,
) -> dict:
    """Poll a task until it reaches one of `statuses`; fail on any other terminal state."""
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        response = client.get(f"/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in statuses:
            return body
        assert body["status"] in ("pending", "processing", "exported"), body
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} still {body.get('status')} after {timeout}s")


def submit(
    client: httpx.Client, content: bytes, task_type: str = "validate", **fields: str
) -> httpx.Response:
    return client.post(
        "/v1/tasks",
        files={"file": ("numbers.txt", content, "text/plain")},
        data={"task_type": task_type, **fields},
    )


def download_zip(status_body: dict) -> dict[str, str]:
    """Fetch a result link without an API key; return the zip's files as text."""
    import io
    import zipfile

    response = httpx.get(status_body["result_url"], timeout=60)
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def raw_request(sock: socket.socket, request: bytes) -> bytes:
    """Send one request on an open connection and read its whole response."""
    sock.sendall(request)
    reader = sock.makefile("rb")
    status = reader.readline()
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    reader.read(length)
    return status


def ledger_by_user(server: Server, user_name: str) -> dict[str, int]:
    """Sums of the ledger by kind, read from the database itself."""
    with sqlite3.connect(f"file:{server.data_dir / 'numcheck.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT kind, sum(amount) FROM credit_ledger JOIN users ON users.id = user_id "
            "WHERE users.name = ? GROUP BY kind",
            (user_name,),
        ).fetchall()
    return {kind: total for kind, total in rows}


def account(client: httpx.Client) -> dict:
    body = client.get("/v1/account").json()
    return body["credits"]


def metered_user(server: Server, name: str, credits: int) -> str:
    key = server.create_key(name)
    result = server.cli("credits", "set", name, str(credits))
    assert result.returncode == 0, result.stderr
    return key


def german_mobiles(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return sorted({f"+49151{rng.randrange(10**8):08d}" for _ in range(count * 2)})[:count]


def load_api(client: httpx.Client, name: str, content: bytes, **fields: str) -> httpx.Response:
    return client.post(f"/v1/registries/{name}", data=fields, files={"file": ("r.txt", content)})


CREDITS = 10_000_000


RECOVERY_BOUND = 45  # seconds: generous for a default lease of 20 s, far below the old 300 s


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


def counted(status: dict) -> int:
    """Lines checked so far, as the progress bar shows them."""
    return status["success"] + status["failure"]


def submit_lines(client: httpx.Client, numbers: list[str]) -> str:
    created = submit(client, ("\n".join(numbers) + "\n").encode())
    assert created.status_code == 200, created.text
    return created.json()["task_id"]


def wait_for_progress(
    client: httpx.Client, task_id: str, reached: Callable[[dict], bool], timeout: float, what: str
) -> dict:
    """Poll the task until `reached(status)`; fail if it ends another way or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        status = task_status(client, task_id)
        if status is not None:
            assert status["status"] in ("pending", "processing", "exported"), (
                status["status"],
                status.get("message"),
            )
            if reached(status):
                return status
            assert status["status"] != "exported", f"the task was done before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.1)  # 10 requests a second: well inside the key's rate limit (20/s)


def submit_and_wait_until_counting(client: httpx.Client, numbers: list[str]) -> str:
    """Submit a task; return once its first chunk is counted and others remain (mid-way)."""
    task_id = submit_lines(client, numbers)
    status = wait_for_progress(client, task_id, counted, 120, "first chunk counted")
    assert status["status"] == "processing", status
    return task_id


def kill_as_it_progresses(
    client: httpx.Client, task_id: str, fractions: list[float], kill: Callable[[int], None]
) -> None:
    """Call `kill(n)` once the task has counted the n-th fraction of its lines, whatever the
    machine's speed, and check each time that the counters move again within RECOVERY_BOUND."""
    for n, fraction in enumerate(fractions):
        status = wait_for_progress(
            client,
            task_id,
            lambda status, fraction=fraction: counted(status) >= fraction * status["total"],
            240,
            f"{fraction:.0%} of the lines counted",
        )
        assert status["status"] == "processing", f"the task was done before kill {n + 1}"
        kill(n)
        before = counted(task_status(client, task_id) or status)
        wait_for_progress(
            client,
            task_id,
            lambda status, before=before: counted(status) > before,
            RECOVERY_BOUND,
            f"progress after kill {n + 1}",
        )


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
    assert ledger_of(server, status["task_id"]) == [
        ("charge", 1, len(valid)),
        ("release", 1, len(malformed)),
        ("reserve", 1, len(numbers)),
    ]


def ledger_of(server: Server, task_id: str) -> list[tuple[str, int, int]]:
    """The task's credit movements by kind, from the server's database (shared or embedded)."""
    query = (
        "SELECT kind, count(*), sum(amount) FROM credit_ledger WHERE task_id = {} "
        "GROUP BY kind ORDER BY kind"
    )
    if "NUMCHECK_DATABASE_URL" in server.env:
        with psycopg.connect(conninfo(server)) as db:
            return db.execute(query.format("%s"), (task_id,)).fetchall()
    with closing(sqlite3.connect(server.data_dir / "numcheck.db")) as db:
        return db.execute(query.format("?"), (task_id,)).fetchall()


def conninfo(server: Server) -> str:
    return server.env["NUMCHECK_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
