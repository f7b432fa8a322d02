"""Fixtures shared by the suite: real server processes on 127.0.0.1, real data dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.helpers import (
    BUCKET,
    MODES,
    Server,
    broker,
    free_port,
    fresh_postgres,
    numcheck_cli,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of tests/integration starts real processes: mark it `integration`, so that
    `-m "not integration"` runs the unit tests alone."""
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def shared_validator_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One compiled-validator cache for every server of the run (each would build its own)."""
    os.environ.setdefault("NUMCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("validator-cache")))


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """Start servers with extra NUMCHECK_* settings; all are stopped at the end of the test."""
    servers: list[Server] = []

    def start(data_dir: Path | None = None, **settings: object) -> Server:
        # One worker process unless a test asks for more: spawning a second costs a core's
        # second or two on a two-core machine, for most tests for nothing.
        env = {"NUMCHECK_WORKERS": "1"}
        env |= {f"NUMCHECK_{k.upper()}": str(v) for k, v in settings.items()}
        server = Server(data_dir or tmp_path / "data", env=env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run."""
    with fresh_postgres() as url:
        yield url


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
