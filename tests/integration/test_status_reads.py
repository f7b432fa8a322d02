"""Status calls, and the reads the dashboard polls (the list, a task's outcome, preview and
results), only read: on the embedded database they answer while another process holds the
write lock (as a worker committing a chunk does), and a key's last use is still recorded."""

from __future__ import annotations

import sqlite3
import time

import httpx

from tests.helpers import submit, wait_until_exported


def test_status_calls_answer_while_the_database_write_lock_is_held(start_server) -> None:
    server = start_server()
    with server.client(server.admin_key) as client:
        client.timeout = httpx.Timeout(5)
        task_id = submit(client, b"+442079460958\n").json()["task_id"]
        exported = wait_until_exported(client, task_id)
        lock = sqlite3.connect(server.data_dir / "numcheck.db", isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")  # what a worker's chunk transaction holds
            started = time.monotonic()
            got = client.get(f"/v1/tasks/{task_id}")
            contract = client.post("/v1/gettasks", json={"task_id": task_id})
            health = client.get("/healthz")
            listed = client.get("/v1/tasks")
            outcome = client.get(f"/v1/tasks/{task_id}/outcome")
            preview = client.get(f"/v1/tasks/{task_id}/preview")
            results = client.get(f"/v1/tasks/{task_id}/results")
            assert time.monotonic() - started < 5
            assert [task["task_id"] for task in listed.json()["tasks"]] == [task_id]
            assert outcome.status_code == 200 and outcome.json()["success"] == 1
            assert preview.status_code == 200 and preview.json()["rows"][0][0] == "+442079460958"
            assert results.status_code == 200 and "+442079460958" in results.text
            assert got.status_code == 200 and got.json()["status"] == "exported"
            assert got.json()["success"] == exported["success"] == 1
            assert contract.status_code == 200 and contract.json()["task_id"] == task_id
            assert health.status_code == 200 and health.json()["database"] == "ok"
            # A write still waits for the lock: reading is all the status calls skip it for.
            try:
                client.delete(f"/v1/tasks/{task_id}", timeout=1)
                waited = False
            except httpx.ReadTimeout:
                waited = True
            assert waited
        finally:
            lock.execute("ROLLBACK")
            lock.close()


def test_a_status_call_records_the_keys_last_use(start_server) -> None:
    server = start_server()
    key = server.create_key("poller")
    prefix = key.split("_")[1]

    def last_used() -> str | None:
        with server.client(server.admin_key) as admin:
            rows = admin.get("/v1/admin/keys").json()
        return next(row["last_used_at"] for row in rows if row["prefix"] == prefix)

    assert last_used() is None
    with server.client(key) as client:
        assert client.get("/v1/tasks/nonexistenttask000000").status_code == 404
    assert last_used() is not None
