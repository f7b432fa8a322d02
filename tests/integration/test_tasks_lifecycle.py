"""Listing, cancelling and deleting tasks; two users never see each other's tasks."""

import time

import httpx

from tests.helpers import Server, download_zip, submit, wait_for_status


def test_two_users_cannot_reach_each_others_tasks(server: Server) -> None:
    alice_key, bob_key = server.create_key("alice"), server.create_key("bob")
    with server.client(alice_key) as alice, server.client(bob_key) as bob:
        task_id = submit(alice, b"+12025551234\n").json()["task_id"]
        status = wait_for_status(alice, task_id)

        for response in (
            bob.get(f"/v1/tasks/{task_id}"),
            bob.post("/v1/gettasks", data={"task_id": task_id}),
            bob.post("/v1/gettasks", json={"task_id": task_id}),
            bob.delete(f"/v1/tasks/{task_id}"),
        ):
            assert response.status_code == 404
            assert response.json()["code"] == "task_not_found"  # same as a made-up id
        assert task_id not in [t["task_id"] for t in bob.get("/v1/tasks").json()["tasks"]]

        # Bob's delete changed nothing: Alice's task and its result are intact.
        assert alice.get(f"/v1/tasks/{task_id}").json()["status"] == "exported"
        assert download_zip(status)["results.csv"].startswith("Number,")
        assert task_id in [t["task_id"] for t in alice.get("/v1/tasks").json()["tasks"]]


def test_listing_is_newest_first_with_a_cursor(server: Server) -> None:
    key = server.create_key("lister")
    with server.client(key) as client:
        created = [submit(client, b"+12025551234\n").json()["task_id"] for _ in range(5)]
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/tasks", params=params).json()
            assert len(page["tasks"]) <= 2
            seen += [t["task_id"] for t in page["tasks"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(created))
        bad = client.get("/v1/tasks", params={"cursor": "!!"})
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_request"


def test_cancel_a_running_task_then_delete_a_finished_one(start_server) -> None:
    server = start_server(chunk_lines=200, workers=1)
    blobs = server.data_dir / "blobs"
    with server.client(server.admin_key) as client:
        big = submit(client, b"+12025551234\n" * 20_000).json()["task_id"]
        cancelled = client.delete(f"/v1/tasks/{big}")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        time.sleep(1.5)  # let any in-flight chunk finish
        body = client.get(f"/v1/tasks/{big}").json()
        assert body["status"] == "cancelled" and "result_url" not in body
        assert body["success"] < 20_000
        assert not [p for p in blobs.rglob("*") if big in str(p)], "cancelled task left files"

        done = submit(client, b"+12025551234\n").json()["task_id"]
        status = wait_for_status(client, done)
        deleted = client.delete(f"/v1/tasks/{done}")
        assert deleted.status_code == 200 and deleted.json()["status"] == "expired"
        assert "result_url" not in deleted.json()
        assert httpx.get(status["result_url"]).status_code == 404
        assert not [p for p in blobs.rglob("*") if done in str(p)]
