"""Idempotency-Key, request rate and concurrency limits."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import Server, submit, wait_for_status


def reservations(server: Server) -> int:
    with sqlite3.connect(f"file:{server.data_dir / 'numcheck.db'}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM credit_ledger WHERE kind = 'reserve'").fetchone()[0]


def post(
    client: httpx.Client, content: bytes, key: str, task_type: str = "validate"
) -> httpx.Response:
    return client.post(
        "/v1/tasks",
        files={"file": ("n.txt", content)},
        data={"task_type": task_type},
        headers={"Idempotency-Key": key},
    )


def test_idempotency_key(start_server) -> None:
    server = start_server(rate_limit_burst=200)
    alice, bob = server.create_key("alice"), server.create_key("bob")
    body = b"+12025550101\n" * 20_000
    with server.client(alice) as client:
        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(lambda _: post(client, body, "order-42"), range(50)))
        ok = [r for r in responses if r.status_code == 200]
        busy = [r for r in responses if r.status_code == 409]
        assert len(ok) + len(busy) == 50 and ok
        assert {r.json()["task_id"] for r in ok} == {ok[0].json()["task_id"]}
        assert {r.json()["code"] for r in busy} <= {"idempotency_in_progress"}
        task_id = ok[0].json()["task_id"]
        assert reservations(server) == 1
        assert [t["task_id"] for t in client.get("/v1/tasks").json()["tasks"]] == [task_id]

        replay = post(client, body, "order-42")
        assert replay.status_code == 200 and replay.json() == ok[0].json()
        assert reservations(server) == 1  # no second reservation

        other_file = post(client, body + b"+12025550102\n", "order-42")
        assert other_file.status_code == 422 and other_file.json()["code"] == "idempotency_mismatch"
        other_type = post(client, body, "order-42", task_type="nope")
        assert other_type.status_code == 422
        assert reservations(server) == 1

        # A failed first request does not pin its key: the retry is processed afresh.
        assert post(client, b"", "order-43").status_code == 400
        assert post(client, b"+12025550101\n", "order-43").status_code == 200

    with server.client(bob) as client:
        theirs = post(client, body, "order-42")
        assert theirs.status_code == 200 and theirs.json()["task_id"] != task_id
        assert reservations(server) == 3


def test_rate_limit_answers_429_with_retry_after_then_recovers(start_server) -> None:
    server = start_server(rate_limit_per_second=1, rate_limit_burst=3)
    key = server.create_key("quick")
    with server.client(key) as client:
        codes = [client.get("/v1/tasks").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/v1/tasks")
        assert limited.json()["code"] == "rate_limited"
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 2
        time.sleep(retry_after)
        assert client.get("/v1/tasks").status_code == 200
    with server.client(server.admin_key) as other:  # buckets are per key
        assert other.get("/v1/tasks").status_code == 200


def test_a_redis_rate_limit_is_shared_by_every_api_server(start_server, tmp_path) -> None:
    from tests.conftest import broker, fresh_postgres

    with fresh_postgres() as database, broker("redis") as redis_url:
        shared = {
            "database_url": database,
            "rate_limit_redis_url": redis_url,
            "rate_limit_per_second": 1,
            "rate_limit_burst": 4,
        }
        first = Server(
            tmp_path / "a", env={f"NUMCHECK_{k.upper()}": str(v) for k, v in shared.items()}
        )
        assert first.cli("db", "upgrade").returncode == 0
        first.start()
        second = Server(tmp_path / "b", env=first.env).start()
        try:
            key = first.create_key("everywhere")
            codes = []
            for server in (first, second, first, second, first):
                with server.client(key) as client:
                    codes.append(client.get("/v1/tasks").status_code)
            assert codes == [200, 200, 200, 200, 429]  # one bucket of 4, whichever server
        finally:
            second.stop()
            first.stop()


def test_active_task_limit_answers_429_then_recovers(start_server) -> None:
    server = start_server(max_active_tasks=2, workers=1, chunk_lines=1000)
    key = server.create_key("busy")
    with server.client(key) as client:
        first = [submit(client, b"+12025550101\n" * 30_000).json()["task_id"] for _ in range(2)]
        refused = submit(client, b"+12025550101\n")
        assert refused.status_code == 429
        assert refused.json()["code"] == "too_many_active_tasks"
        assert int(refused.headers["Retry-After"]) > 0
        assert len(client.get("/v1/tasks").json()["tasks"]) == 2  # nothing was created
        for task_id in first:
            wait_for_status(client, task_id)
        assert submit(client, b"+12025550101\n").status_code == 200
