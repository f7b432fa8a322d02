"""What outside clients found about tasks: a cancel stops the counters for good, and the hosted
contract's status route answers exactly its documented shape."""

from __future__ import annotations

import time

from tests.helpers import Server, ledger_by_user, metered_user, submit, wait_for_status

CONTRACT_KEYS = {
    "created_at",
    "updated_at",
    "task_id",
    "user_id",
    "status",
    "total",
    "success",
    "failure",
}


def wait_for_log(server: Server, text: str, count: int = 1, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while server.log().count(text) < count:
        assert time.monotonic() < deadline, f"{text!r} never logged {count} times"
        time.sleep(0.05)


def test_a_cancel_stops_the_counters_of_a_running_chunk(start_server) -> None:
    # Big chunks, so that one is surely running when the cancel lands.
    server = start_server(chunk_lines=100_000, workers=2)
    key = metered_user(server, "canceller", 1_000_000)
    with server.client(key) as client:
        task_id = submit(client, b"+4915112345678\n" * 400_000).json()["task_id"]
        while client.get(f"/v1/tasks/{task_id}").json()["status"] == "pending":
            time.sleep(0.01)
        # A chunk has started (it turned the task to processing) and takes a while.
        cancelled = client.delete(f"/v1/tasks/{task_id}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        at_cancel = cancelled.json()
        # Every chunk that was running finishes its work and reports back.
        wait_for_log(server, f"job done kind=chunk task_id={task_id}")
        time.sleep(1)
        after = client.get(f"/v1/tasks/{task_id}").json()
        assert after["status"] == "cancelled"
        assert (after["success"], after["failure"]) == (at_cancel["success"], at_cancel["failure"])
        assert client.get("/v1/account").json()["credits"]["balance"] == 1_000_000
    assert ledger_by_user(server, "canceller") == {
        "set": 1_000_000,
        "reserve": 400_000,
        "release": 400_000,
    }


def test_gettasks_answers_exactly_the_documented_keys_in_every_status(start_server) -> None:
    server = start_server(chunk_lines=100_000, workers=1)
    with server.client(server.admin_key) as client:
        pending = submit(client, b"+4915112345678\n" * 300_000).json()["task_id"]
        early = client.post("/v1/gettasks", data={"task_id": pending}).json()
        assert set(early) == CONTRACT_KEYS, early  # no task_type, no message
        assert early["status"] in ("pending", "processing")

        cancelled = client.delete(f"/v1/tasks/{pending}").json()
        assert cancelled["status"] == "cancelled"
        stopped = client.post("/v1/gettasks", data={"task_id": pending}).json()
        # A status the hosted page does not have says why, in `message`.
        assert set(stopped) == CONTRACT_KEYS | {"message"}
        assert stopped["message"] == "Cancelled by its owner."

        done = submit(client, b"+4915112345678\n").json()["task_id"]
        wait_for_status(client, done)
        exported = client.post("/v1/gettasks", json={"task_id": done}).json()
        assert set(exported) == CONTRACT_KEYS | {"result_url"}

        # numcheck's own route keeps the extended information.
        extended = client.get(f"/v1/tasks/{pending}").json()
        assert extended["task_type"] == "validate" and extended["message"]
        listed = client.get("/v1/tasks").json()["tasks"]
        assert {t["task_type"] for t in listed} == {"validate"}
