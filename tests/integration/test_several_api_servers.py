"""Several API servers on one database and one bucket, each with a data dir of its own, as on
machines behind a load balancer: they may all start at once on an empty database, and any of
them answers for a task another one took in."""

from __future__ import annotations

import threading

import httpx

from tests.helpers import BUCKET, Server, fresh_postgres, submit, wait_for_status


def test_servers_started_together_make_one_admin_and_answer_for_each_other(
    tmp_path, s3_endpoint
) -> None:
    with fresh_postgres() as database:
        env = {"NUMCHECK_DATABASE_URL": database, "NUMCHECK_STORAGE_URL": f"s3://{BUCKET}/lb"}
        servers = [Server(tmp_path / f"api-{n}", env=env) for n in range(3)]
        assert servers[0].cli("db", "upgrade").returncode == 0
        starting = [threading.Thread(target=server.start) for server in servers]
        try:
            for thread in starting:
                thread.start()
            for thread in starting:
                thread.join()
            assert all(server.process and server.process.poll() is None for server in servers)
            # On an empty database exactly one of them made the first admin; none failed.
            made = [s for s in servers if (s.data_dir / "admin-key.txt").exists()]
            assert len(made) == 1
            key = made[0].admin_key

            with servers[0].client(key) as client:
                task_id = submit(client, b"+12025550101\nnope\n").json()["task_id"]
            with servers[1].client(key) as client:
                status = wait_for_status(client, task_id)
            assert (status["total"], status["success"], status["failure"]) == (2, 1, 1)
            # The link is the bucket's own (presigned): it works whichever server gave it.
            result = httpx.get(status["result_url"], timeout=30)
            assert result.status_code == 200 and result.content[:2] == b"PK"
            with servers[2].client(key) as client:
                listed = client.get("/v1/tasks").json()["tasks"]
            assert [task["task_id"] for task in listed] == [task_id]
        finally:
            for server in servers:
                server.stop()
