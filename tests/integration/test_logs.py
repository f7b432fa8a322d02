"""Logs carry one line per request and never a key, a signature or a number; request ids
follow an upload to its chunks; JSON logs are one object a line; plain ones escape values."""

import re
from contextlib import ExitStack

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


def json_records(text: str) -> list[dict]:
    """Every line of a JSON-format log, parsed: a line that is not one JSON object fails."""
    import json

    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all(
        isinstance(r, dict) and {"time", "level", "logger", "message"} <= set(r) for r in records
    )
    return records


def test_json_logs_follow_one_request_to_its_chunks(start_server) -> None:
    server = start_server(log_format="json", chunk_lines=2)
    request_id = "upload-42.trace/abc"
    with server.client(server.admin_key) as client:
        created = client.post(
            "/v1/tasks",
            files={"file": ("n.txt", b"+12025550143\n+4915112345678\n+4915112345679\n")},
            data={"task_type": "validate"},
            headers={"X-Request-ID": request_id},
        )
        assert created.status_code == 200, created.text
        assert created.headers["x-request-id"] == request_id
        task_id = created.json()["task_id"]
        wait_for_status(client, task_id)
    server.stop()  # every record written
    records = json_records(server.log())

    mine = [r for r in records if r.get("request_id") == request_id]
    access = [r for r in mine if r["logger"] == "numcheck.access"]
    assert len(access) == 1 and access[0]["task_id"] == task_id
    assert access[0]["message"].startswith("POST /v1/tasks 200 ")
    # The chunks and the finalize ran in a pool process, later: they carry the upload's id.
    chunks = [r for r in mine if r["logger"] == "numcheck.tasks.runner" and "chunk" in r]
    assert sorted(r["chunk"] for r in chunks) == [0, 1]
    assert all(r["task_id"] == task_id and r["process"] != "MainProcess" for r in chunks)
    assert any(r["logger"] == "numcheck.tasks.lifecycle" for r in mine)  # the export
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's records too


def test_request_ids_are_the_callers_or_generated_and_in_error_bodies(start_server) -> None:
    server = start_server()
    with server.client() as client:
        for given in ("a" * 129, "has space", "caf\u00e9", ""):
            response = client.get("/v1/account", headers={"X-Request-ID": given.encode()})
            assert response.status_code == 401
            generated = response.headers["x-request-id"]
            assert re.fullmatch(r"[0-9a-f]{32}", generated), given
            assert response.json() == {
                "code": "invalid_api_key",
                "message": response.json()["message"],
                "request_id": generated,
            }
        kept = client.get("/nowhere", headers={"X-Request-ID": "x" * 128})
        assert kept.status_code == 404
        assert kept.headers["x-request-id"] == "x" * 128 == kept.json()["request_id"]
        ok = client.get("/healthz")
        assert re.fullmatch(r"[0-9a-f]{32}", ok.headers["x-request-id"])
        assert ok.headers["x-request-id"] != generated
    server.stop()
    log = server.log()
    assert any(
        f"request_id={'x' * 128}]" in line and "/nowhere 404" in line for line in log.splitlines()
    )


def test_plain_logs_escape_line_ends_in_values(start_server) -> None:
    server = start_server()
    with server.client() as client:
        client.get("/v1/tasks/%0A2026-01-01 00:00:00,000 ERROR forged%0D%1B[31m")
    server.stop()  # every record written
    lines = server.log().splitlines()
    assert not any(line.startswith("2026-01-01") for line in lines)
    assert any(
        "/v1/tasks/\\n2026-01-01 00:00:00,000 ERROR forged\\r\\x1b[31m 401" in line
        for line in lines
    )


def test_celery_worker_logs_are_json_and_carry_the_upload_request_id(
    tmp_path, postgres_url
) -> None:
    from tests.helpers import Server, broker, fresh_postgres, numcheck_cli

    data_dir = tmp_path / "data"
    stack = ExitStack()
    postgres_url = stack.enter_context(fresh_postgres())  # its own: a first admin of its own
    env = {"NUMCHECK_DATABASE_URL": postgres_url, "NUMCHECK_CHUNK_LINES": "2"}
    assert numcheck_cli(data_dir, "db", "upgrade", env=env).returncode == 0
    with stack, broker("redis") as broker_url:
        env |= {"NUMCHECK_BROKER_URL": broker_url, "NUMCHECK_LOG_FORMAT": "json"}
        server = Server(data_dir, env=env, worker_count=1)
        try:
            server.start()
            with server.client(server.admin_key) as client:
                created = client.post(
                    "/v1/tasks",
                    files={"file": ("n.txt", b"+12025550143\n+4915112345678\n+4915112345679\n")},
                    data={"task_type": "validate"},
                    headers={"X-Request-ID": "celery-upload-7"},
                )
                task_id = created.json()["task_id"]
                wait_for_status(client, task_id)
        finally:
            server.stop()
    # Celery prints (does not log) one line when it stops; everything else is a record.
    text = server.worker_logs[0].read_text().replace("worker: Warm shutdown (MainProcess)\n", "")
    records = json_records(text)
    chunks = [
        r
        for r in records
        if r.get("request_id") == "celery-upload-7" and r["logger"] == "numcheck.tasks.runner"
    ]
    assert sorted(r["chunk"] for r in chunks if "chunk" in r) == [0, 1]
    assert all(r["task_id"] == task_id for r in chunks)
    assert any(r["logger"].startswith("celery") for r in records)  # Celery's own records too
