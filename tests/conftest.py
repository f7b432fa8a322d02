"""Fixtures shared by the suite: real server processes on 127.0.0.1, real data dirs."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
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


@pytest.fixture(scope="session", autouse=True)
def shared_validator_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One compiled-validator cache for every server of the run (each would build its own)."""
    os.environ.setdefault("NUMCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("validator-cache")))


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """Start servers with extra NUMCHECK_* settings; all are stopped at the end of the test."""
    servers: list[Server] = []

    def start(data_dir: Path | None = None, **settings: object) -> Server:
        env = {f"NUMCHECK_{k.upper()}": str(v) for k, v in settings.items()}
        server = Server(data_dir or tmp_path / "data", env=env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run."""
    with fresh_postgres() as url:
        yield url


_redis_databases_in_use: set[int] = set()


@contextmanager
def broker(kind: str) -> Iterator[str]:
    """A broker of our own: a Redis database number, or a RabbitMQ virtual host."""
    if kind == "redis":
        import redis

        # One database number per live broker: two clusters sharing one would take each other's
        # messages (and a worker of the other's database acks them as unknown work).
        number = random.choice(sorted(set(range(1, 15)) - _redis_databases_in_use))
        _redis_databases_in_use.add(number)
        try:
            try:
                redis.Redis(host="127.0.0.1", port=6379, db=number, socket_timeout=5).flushdb()
            except redis.RedisError as exc:
                service_unavailable("Redis at 127.0.0.1:6379", exc)
            yield f"redis://127.0.0.1:6379/{number}"
        finally:
            _redis_databases_in_use.discard(number)
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


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1 (no S3 server package installs here), with a
    bucket, and the AWS variables pointing at it while the module's tests run."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    aws = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in aws}
    os.environ.update(aws)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    yield endpoint
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    moto.stop()


MODES = ["sqlite", "postgresql", "celery-redis", "celery-rabbitmq"]


def in_modes(*modes: str) -> pytest.MarkDecorator:
    """Run a test on the shared server of these modes only: for tests of the API's edges (client,
    CLI, dashboard, guards) that the task machinery behind it does not change."""
    return pytest.mark.parametrize("server", modes, indirect=True)


@pytest.fixture(scope="session", params=MODES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One shared server with small chunks, so that every task spans several of them. The
    end-to-end tests run in every mode: the embedded default (SQLite, in-process pool),
    PostgreSQL, and scale-out (PostgreSQL, a Celery `numcheck worker`) over Redis and RabbitMQ."""
    env = {"NUMCHECK_CHUNK_LINES": "1000"}
    data_dir = tmp_path_factory.mktemp(f"shared-{request.param}") / "data"
    with ExitStack() as stack:
        if request.param != "sqlite":
            env["NUMCHECK_DATABASE_URL"] = stack.enter_context(fresh_postgres())
            upgraded = numcheck_cli(data_dir, "db", "upgrade", env=env)
            assert upgraded.returncode == 0, upgraded.stderr
        if request.param.startswith("celery-"):
            env["NUMCHECK_BROKER_URL"] = stack.enter_context(broker(request.param.split("-")[1]))
            env["NUMCHECK_WORKERS"] = "2"
        server = Server(data_dir, env=env).start()
        yield server
        server.stop()


@pytest.fixture(scope="session")
def admin_key(server: Server) -> str:
    return server.admin_key


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
