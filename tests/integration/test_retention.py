"""Retention: files go after the retention period, the task turns expired, the row stays."""

from __future__ import annotations

import httpx

from tests.helpers import submit, wait_for_status


def test_results_and_uploads_are_deleted_after_the_retention_period(start_server) -> None:
    # 0.00005 days = 4.3 s; the housekeeping step runs every half second.
    server = start_server(retention_days=0.00005, housekeeping_interval_seconds=0.5)
    with server.client(server.admin_key) as client:
        task_id = submit(client, b"+12025550101\n").json()["task_id"]
        status = wait_for_status(client, task_id)
        assert httpx.get(status["result_url"]).status_code == 200
        expired = wait_for_status(client, task_id, statuses=("expired",), timeout=30)
        assert "retention" in expired["message"]
        assert "result_url" not in expired
        assert (expired["total"], expired["success"]) == (1, 1)  # the row stays for the ledger
        assert httpx.get(status["result_url"]).status_code == 404
    assert not [p for p in (server.data_dir / "blobs").rglob("*") if task_id in str(p)]
