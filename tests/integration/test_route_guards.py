"""Objects of one user are out of reach of another; the admin API manages users, keys and
credits, and audits it (real servers, both engines). Route guards: tests/api/test_route_guards.py."""

from __future__ import annotations

import re

import httpx

from tests.helpers import Server, download_zip, in_modes, submit, wait_for_status


@in_modes("sqlite", "postgresql")
def test_objects_of_one_user_are_out_of_reach_of_another(server: Server, admin_key: str) -> None:
    owner, other = server.create_key("owner"), server.create_key("intruder")
    with server.client(owner) as a, server.client(other) as b, server.client(admin_key) as admin:
        task_id = submit(a, b"+12025550101\n").json()["task_id"]
        status = wait_for_status(a, task_id)
        # Tasks: 404, as for an id that does not exist.
        assert b.get(f"/v1/tasks/{task_id}").status_code == 404
        assert b.delete(f"/v1/tasks/{task_id}").status_code == 404
        # Result links: only a link signed for this task and owner works.
        forged = status["result_url"].replace(
            task_id, submit(b, b"+12025550101\n").json()["task_id"]
        )
        assert httpx.get(forged).status_code == 403
        # Keys and registries: admin-only, so 403 for a user, and nothing changes.
        owner_prefix = owner.split("_")[1]
        assert b.delete(f"/v1/admin/keys/{owner_prefix}").status_code == 403
        assert a.get("/v1/tasks").status_code == 200  # the owner's key still works
        assert b.delete("/v1/registries/anything").status_code == 403
        keys = {k["prefix"]: k for k in admin.get("/v1/admin/keys").json()}
        assert keys[owner_prefix]["revoked_at"] is None
    assert download_zip(status)["results.csv"].startswith("Number,")


@in_modes("sqlite", "postgresql")
def test_admin_api_manages_users_keys_credits_and_audits(server: Server, admin_key: str) -> None:
    with server.client(admin_key) as admin:
        created = admin.post("/v1/admin/users", json={"name": "frank"})
        assert created.status_code == 200 and created.json()["role"] == "user"
        new_key = admin.post("/v1/admin/users/frank/keys").json()
        assert new_key["key"].startswith(f"nck_{new_key['prefix']}_")
        assert (
            admin.put("/v1/admin/users/frank/credits", json={"credits": 99_997}).json()["credits"][
                "balance"
            ]
            == 99_997
        )
        assert (
            admin.post("/v1/admin/users/frank/credits/grant", json={"amount": 3}).json()["credits"][
                "balance"
            ]
            == 100_000
        )
        with httpx.Client(base_url=server.url, headers={"X-API-Key": new_key["key"]}) as frank:
            me = frank.get("/v1/account").json()
            assert me["name"] == "frank" and me["credits"]["balance"] == 100_000
            assert me["limits"]["max_active_tasks"] >= 1
            task_id = submit(frank, b"+12025550101\n" * 50_000).json()["task_id"]
            cancelled = admin.delete(f"/v1/admin/tasks/{task_id}")
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
            assert frank.get("/v1/account").json()["credits"]["balance"] == 100_000
        assert admin.delete(f"/v1/admin/keys/{new_key['prefix']}").status_code == 204
        assert (
            httpx.get(f"{server.url}/v1/tasks", headers={"X-API-Key": new_key["key"]}).status_code
            == 401
        )
        entries = admin.get("/v1/admin/audit").json()
        actions = [(e["action"], e["target"]) for e in entries]
        for expected in (
            ("key.created", "frank"),
            ("credits.set", "frank"),
            ("credits.granted", "frank"),
            ("task.cancelled", task_id),
            ("key.revoked", new_key["prefix"]),
        ):
            assert expected in actions
        metrics = admin.get("/v1/admin/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        # The shared server's counters depend on which tests ran before: their presence and
        # form only, never their values.
        assert re.search(r'^numcheck_tasks\{status="cancelled"\} [1-9]\d*\.0$', metrics.text, re.M)
        assert re.search(r"^numcheck_validator_fallbacks_total \d+\.0$", metrics.text, re.M)
        text = str(entries)
        assert new_key["key"] not in text and new_key["key"].split("_", 2)[2] not in text
        assert "12025550101" not in text
