"""Logs carry one line per request and never a key, a signature or a number."""

import re

import httpx

from tests.helpers import download_zip, submit, wait_for_status


def test_request_lines_without_keys_numbers_or_signatures(start_server) -> None:
    server = start_server()
    user_key = server.create_key("logged")
    numbers = ["+12025550143", "+4915112345678", "not-a-number-7788"]
    with server.client(user_key) as client:
        task_id = submit(client, ("\n".join(numbers) + "\n").encode()).json()["task_id"]
        status = wait_for_status(client, task_id)
        client.get("/v1/tasks", params={"cursor": "bad"})
        client.post(
            "/v1/tasks", files={"file": ("n.txt", b"+1\x00")}, data={"task_type": "validate"}
        )
    download_zip(status)
    httpx.get(status["result_url"] + "0")  # a tampered link, refused
    log = server.log()

    for secret in (user_key, user_key.split("_", 2)[2], *numbers, "12025550143", "4915112345678"):
        assert secret not in log, f"log leaks {secret[:6]}…"
    assert "signature=" not in log and "expires=" not in log
    access = [line for line in log.splitlines() if "numcheck.access" in line]
    assert any(
        re.search(rf"POST /v1/tasks 200 [\d.]+ms task_id={task_id}$", line) for line in access
    )
    assert any(re.search(rf"GET /results/{task_id}.zip 200 ", line) for line in access)
    assert any(" 403 " in line for line in access)
