"""/readyz: 200 while the database, the broker and the blob store answer and the embedded
pool's workers are up; 503 naming what is not. /healthz stays liveness."""

from __future__ import annotations

import shutil
import time

import httpx
import psycopg

from tests.helpers import POSTGRES_ADMIN_URL, free_port, fresh_postgres, numcheck_cli


def ready_once_the_workers_are_up(url: str) -> httpx.Response:
    """/readyz polled while the embedded pool's processes start (503, `starting`)."""
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.get(f"{url}/readyz")
        if answer.status_code != 503 or answer.json()["workers"] != "starting":
            return answer
        assert answer.json()["status"] == "not_ready"
        assert time.monotonic() < deadline, "the workers never came up"
        time.sleep(0.05)


def test_ready_embedded_then_not_when_the_blob_store_is_gone(start_server) -> None:
    server = start_server()
    ready = ready_once_the_workers_are_up(server.url)
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "database": "ok",
        "broker": "none",
        "blob_store": "ok",
        "workers": "ok",
    }
    shutil.rmtree(server.data_dir / "blobs")
    refused = httpx.get(f"{server.url}/readyz")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert refused.json() == {
        "status": "not_ready",
        "database": "ok",
        "broker": "none",
        "blob_store": "failed",
        "workers": "ok",
    }
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # alive all the same


def test_a_server_stopped_by_sigterm_leaves_nothing_of_its_pool_behind(start_server) -> None:
    server = start_server()
    assert ready_once_the_workers_are_up(server.url).status_code == 200
    server.stop()  # SIGTERM: the pool's start-up counter is released before the exit
    log = server.log()
    assert server.process is not None and server.process.returncode is not None
    assert "leaked semaphore" not in log and "Traceback" not in log


def test_not_ready_names_an_unreachable_broker_then_a_lost_database(start_server, tmp_path) -> None:
    with fresh_postgres() as database_url:
        data_dir = tmp_path / "data"
        env = {"NUMCHECK_DATABASE_URL": database_url}
        assert numcheck_cli(data_dir, "db", "upgrade", env=env).returncode == 0
        # Nothing listens there: the broker never answers.
        broker_url = f"redis://127.0.0.1:{free_port()}/0"
        server = start_server(data_dir, database_url=database_url, broker_url=broker_url)
        refused = httpx.get(f"{server.url}/readyz", timeout=30)
        assert refused.status_code == 503
        assert refused.json() == {
            "status": "not_ready",
            "database": "ok",
            "broker": "failed",
            "blob_store": "ok",
            "workers": "none",  # scale-out: the jobs run in `numcheck worker` processes
        }
        name = database_url.rsplit("/", 1)[1]
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        lost = httpx.get(f"{server.url}/readyz", timeout=30)
        assert lost.status_code == 503 and lost.json()["database"] == "failed"
        server.stop()
