"""Credits: exact under races and crashes; a 200 may be charged, a 400 or 500 never."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import account, ledger_by_user, metered_user, submit, wait_for_status


def test_50_racing_creations_with_credits_for_10(start_server) -> None:
    server = start_server(max_active_tasks=100, rate_limit_burst=200, max_uploads_in_flight=50)
    key = metered_user(server, "racer", 10)
    with server.client(key) as client:
        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(lambda _: submit(client, b"+12025550101\n"), range(50)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 10 + [402] * 40
        refused = next(r.json() for r in responses if r.status_code == 402)
        assert refused["code"] == "insufficient_credits"
        assert refused["required"] == 1 and refused["available"] == 0
        task_ids = [r.json()["task_id"] for r in responses if r.status_code == 200]
        for task_id in task_ids:
            wait_for_status(client, task_id)
        assert account(client) == {
            "unlimited": False,
            "balance": 0,
            "reserved": 0,
            "charged_this_month": 10,
        }
        assert len(client.get("/v1/tasks").json()["tasks"]) == 10  # refused ones left no task
    sums = ledger_by_user(server, "racer")
    assert sums["reserve"] == 10 and sums["charge"] == 10 and sums["release"] == 0
    # Reconciliation: what was given equals what is left, held and spent.
    assert sums["set"] == 10 == 0 + 0 + sums["charge"]


def test_export_charges_success_and_cancel_charges_nothing(start_server) -> None:
    server = start_server(chunk_lines=500, workers=1)
    key = metered_user(server, "payer", 100_000)
    with server.client(key) as client:
        mixed = b"+12025550101\n+4915112345678\nnot a number\n+0 1\n+442079460958\n"
        task_id = submit(client, mixed).json()["task_id"]
        assert account(client)["reserved"] in (0, 5)  # held until export
        status = wait_for_status(client, task_id)
        assert (status["success"], status["failure"]) == (3, 2)
        assert account(client) == {
            "unlimited": False,
            "balance": 100_000 - 3,
            "reserved": 0,
            "charged_this_month": 3,
        }

        big = submit(client, b"+12025550101\n" * 50_000).json()["task_id"]
        assert client.delete(f"/v1/tasks/{big}").json()["status"] == "cancelled"
        time.sleep(1)
        assert account(client) == {
            "unlimited": False,
            "balance": 100_000 - 3,
            "reserved": 0,
            "charged_this_month": 3,
        }
        # Refused requests charge nothing either.
        assert submit(client, b"").status_code == 400
        assert submit(client, b"+12025550101\n", task_type="nope").status_code == 400
        assert account(client)["balance"] == 100_000 - 3
    sums = ledger_by_user(server, "payer")
    assert sums == {"set": 100_000, "reserve": 50_005, "charge": 3, "release": 50_002}


def test_unlimited_users_are_not_metered_and_grants_to_them_are_refused(start_server) -> None:
    server = start_server()
    key = server.create_key("free")
    with server.client(key) as client:
        wait_for_status(client, submit(client, b"+12025550101\n").json()["task_id"])
        assert account(client) == {
            "unlimited": True,
            "balance": 0,
            "reserved": 0,
            "charged_this_month": 1,
        }
    refused = server.cli("credits", "grant", "free", "5")
    assert refused.returncode == 1 and "unlimited" in refused.stderr
    assert server.cli("credits", "set", "free", "5").returncode == 0
    shown = server.cli("credits", "show", "free")
    assert shown.stdout.splitlines()[1].split("\t")[:2] == ["free", "5"]


@pytest.mark.slow
@pytest.mark.faults
def test_kill_9_between_last_chunk_and_export_charges_once(start_server, tmp_path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, chunk_lines=25_000)
    key = metered_user(server, "crashy", 10_000_000)
    lines = 200_000
    caught = False
    for _attempt in range(5):
        with server.client(key) as client:
            task_id = submit(client, b"+12025550101\n" * lines).json()["task_id"]
        db = sqlite3.connect(f"file:{data_dir / 'numcheck.db'}?mode=ro", uri=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, done, count = db.execute(
                "SELECT status, chunks_done, chunk_count FROM tasks WHERE id = ?", (task_id,)
            ).fetchone()
            if done == count or (status != "processing" and status != "pending"):
                break
            time.sleep(0.002)
        server.kill9()
        status, done, count = db.execute(
            "SELECT status, chunks_done, chunk_count FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
        db.close()
        caught = status == "processing" and done == count
        server = start_server(data_dir, chunk_lines=25_000)
        with server.client(key) as client:
            wait_for_status(client, task_id, timeout=180)
        if caught:
            break
    assert caught, "never killed the server in the window between last chunk and export"
    with server.client(key) as client:
        assert account(client)["reserved"] == 0
    with sqlite3.connect(data_dir / "numcheck.db") as db:
        kinds = db.execute(
            "SELECT kind, count(*), sum(amount) FROM credit_ledger WHERE task_id = ? GROUP BY kind",
            (task_id,),
        ).fetchall()
    assert sorted(kinds) == [("charge", 1, lines), ("release", 1, 0), ("reserve", 1, lines)]
