"""Idempotency-Key, request rate and concurrency limits."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.helpers import Server, submit, wait_for_status


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
    server = start_server(rate_limit_burst=200, max_uploads_in_flight=50)
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
    from tests.helpers import broker, fresh_postgres

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


def test_spent_idempotency_keys_are_purged_by_housekeeping(start_server) -> None:
    server = start_server(housekeeping_interval_seconds=0.5)
    with server.client(server.admin_key) as client:
        assert post(client, b"+12025550101\n", "old-key").status_code == 200
        assert post(client, b"+12025550101\n", "fresh-key").status_code == 200
    database = server.data_dir / "numcheck.db"
    with sqlite3.connect(database) as db:
        db.execute(
            "UPDATE idempotency_keys SET created_at = datetime('now', '-25 hours') "
            "WHERE key = 'old-key'"
        )
    deadline = time.monotonic() + 30
    while True:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            keys = {k for (k,) in db.execute("SELECT key FROM idempotency_keys")}
        if keys == {"fresh-key"}:
            break
        assert time.monotonic() < deadline, keys
        time.sleep(0.2)


def test_parallel_creates_on_postgresql_never_pass_the_active_task_limit(tmp_path) -> None:
    from tests.helpers import broker, fresh_postgres

    # A broker and no worker: every accepted task stays pending, so exactly `limit` may exist.
    with fresh_postgres() as database, broker("redis") as broker_url:
        env = {
            "NUMCHECK_DATABASE_URL": database,
            "NUMCHECK_BROKER_URL": broker_url,
            "NUMCHECK_MAX_ACTIVE_TASKS": "10",
            "NUMCHECK_MAX_UPLOADS_IN_FLIGHT": "20",
        }
        server = Server(tmp_path / "data", env=env, worker_count=0)
        assert server.cli("db", "upgrade").returncode == 0
        server.start()
        try:
            key = server.create_key("parallel")
            with server.client(key) as client, ThreadPoolExecutor(15) as pool:
                answers = list(
                    pool.map(lambda _: submit(client, b"+12025550101\n" * 2000), range(15))
                )
                codes = sorted(a.status_code for a in answers)
                assert codes == [200] * 10 + [429] * 5, codes
                assert {a.json()["code"] for a in answers if a.status_code == 429} == {
                    "too_many_active_tasks"
                }
                assert len(client.get("/v1/tasks").json()["tasks"]) == 10
        finally:
            server.stop()


def test_uploads_in_flight_per_key_are_bounded(start_server) -> None:
    import socket

    server = start_server(max_uploads_in_flight=2)
    key = server.create_key("streamer")
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="task_type"\r\n\r\nvalidate\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="n.txt"\r\n'
        "\r\n+12025550101\n"
    ).encode()

    def start_slow_upload() -> socket.socket:
        """An upload that has begun and is still streaming (its body is far from complete)."""
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(
            (
                "POST /v1/tasks HTTP/1.1\r\nHost: x\r\n"
                f"X-API-Key: {key}\r\nContent-Length: 10000000\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
            ).encode()
            + head
        )
        return sock

    streaming = [start_slow_upload(), start_slow_upload()]
    try:
        time.sleep(0.5)  # both are being read by the server now
        with server.client(key) as client:
            refused = submit(client, b"+12025550101\n")
            assert refused.status_code == 429, refused.text
            assert refused.json()["code"] == "too_many_uploads"
            assert int(refused.headers["Retry-After"]) >= 1
            assert client.get("/v1/tasks").json()["tasks"] == []  # nothing was created
            # Another key is not held back by this one's uploads.
            with server.client(server.admin_key) as other:
                assert submit(other, b"+12025550101\n").status_code == 200
        streaming.pop().close()
        deadline = time.monotonic() + 10
        with server.client(key) as client:
            while (answer := submit(client, b"+12025550101\n")).status_code == 429:
                assert time.monotonic() < deadline, "the closed upload's slot was never freed"
                time.sleep(0.1)
            assert answer.status_code == 200, answer.text
    finally:
        for sock in streaming:
            sock.close()


def test_a_rate_limiter_whose_redis_is_down_lets_requests_through(start_server) -> None:
    from tests.helpers import free_port

    # Nothing listens there: the limiter's Redis is unreachable from the start.
    server = start_server(rate_limit_redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with server.client(server.admin_key) as client:
        for _ in range(3):
            assert client.get("/v1/tasks").status_code == 200
        task_id = submit(client, b"+12025550101\n").json()["task_id"]
        wait_for_status(client, task_id)
        health = httpx.get(f"{server.url}/healthz").json()
        assert health == {"status": "degraded", "database": "ok", "rate_limiter": "degraded"}
        metrics = client.get("/v1/admin/metrics").text
    failures = [
        line for line in metrics.splitlines() if line.startswith("numcheck_rate_limiter_failures")
    ]
    assert failures and float(failures[0].split()[-1]) >= 4
    assert "numcheck_rate_limiter_degraded 1.0" in metrics.splitlines()
    log = server.log()
    assert "rate limiter: Redis failed" in log and "Traceback" not in log
