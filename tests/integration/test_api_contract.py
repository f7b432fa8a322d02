"""The two curl commands of the hosted contract (docs/api.md), run verbatim (host and key changed) by real curl."""

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from numcheck import ids
from tests.helpers import Server, download_zip, wait_for_status

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

TASK_ID = re.compile(r"^[0-9a-v]{20}$")
# The contract's form exactly: UTC, Z, milliseconds (`2025-11-21T08:27:09.933Z`).
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def curl(*args: str) -> dict:
    result = subprocess.run(
        ["curl", "--silent", "--show-error", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_timestamp(value: str) -> None:
    assert RFC3339_Z.match(value), value
    datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_create_and_get_with_the_reference_curl_commands(
    server: Server, admin_key: str, tmp_path
) -> None:
    numbers = tmp_path / "number.txt"
    numbers.write_text("+12025551234\n+4915112345678\n\nnot a number\n")

    created = subprocess.run(
        [
            "curl",
            "--silent",
            "--location",
            f"{server.url}/v1/tasks",
            "--header",
            f"X-API-Key: {admin_key}",
            "--form",
            'file=@"./number.txt"',
            "--form",
            'task_type="validate"',
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    body = json.loads(created.stdout)
    assert "code" not in body, body
    assert set(body) == {"task_id", "status", "total", "message", "created_at"}
    assert TASK_ID.match(body["task_id"])
    # A real xid: its creation time, and the process that made it.
    xid = ids.decode_xid(body["task_id"])
    assert abs((xid.created_at - datetime.now(UTC)).total_seconds()) < 120
    assert server.process is not None and xid.pid == server.process.pid & 0xFFFF
    assert body["status"] == "pending"
    assert body["total"] == 3
    assert body["message"] == "Task created successfully"
    assert_timestamp(body["created_at"])

    with server.client(admin_key) as client:
        wait_for_status(client, body["task_id"])
    status = curl(
        "--location",
        f"{server.url}/v1/gettasks",
        "--header",
        f"X-API-Key: {admin_key}",
        "--form",
        f'task_id="{body["task_id"]}"',
    )
    # Exactly the documented keys: strict deserializers (Jackson's default, Go's
    # DisallowUnknownFields) refuse any other.
    assert set(status) == {
        "created_at",
        "updated_at",
        "task_id",
        "user_id",
        "status",
        "total",
        "success",
        "failure",
        "result_url",
    }
    assert status["task_id"] == body["task_id"]
    assert status["status"] == "exported"
    assert (status["total"], status["success"], status["failure"]) == (3, 2, 1)
    assert isinstance(status["user_id"], str) and len(status["user_id"]) == 20
    assert_timestamp(status["created_at"])
    assert_timestamp(status["updated_at"])
    assert status["result_url"].startswith(f"{server.url}/results/{body['task_id']}.zip?")

    files = download_zip(status)
    assert files["results.csv"].splitlines()[0] == (
        "Number,valid,type,region,carrier,timezones,national,international,country,location,reason"
    )
    assert files["failed.csv"].splitlines() == ["line,input,reason", "4,not a number,not_a_number"]
    summary = json.loads(files["summary.json"])
    assert summary["status"] == "exported" and summary["task_id"] == body["task_id"]
    assert summary["check"]["name"] == "validate" and summary["check"]["phonenumbers_metadata"]


@pytest.mark.parametrize("encoding", ["urlencoded", "json"])
def test_gettasks_also_accepts_urlencoded_and_json(
    server: Server, admin_key: str, tmp_path, encoding: str
) -> None:
    (tmp_path / "n.txt").write_text("+12025551234\n")
    created = curl(
        "-H",
        f"X-API-Key: {admin_key}",
        "-F",
        f"file=@{tmp_path / 'n.txt'}",
        "-F",
        "task_type=validate",
        f"{server.url}/v1/tasks",
    )
    if encoding == "json":
        args = [
            "-H",
            "Content-Type: application/json",
            "--data",
            json.dumps({"task_id": created["task_id"]}),
        ]
    else:
        args = ["--data-urlencode", f"task_id={created['task_id']}"]
    status = curl("-H", f"X-API-Key: {admin_key}", *args, f"{server.url}/v1/gettasks")
    assert status["task_id"] == created["task_id"]
    assert status["status"] in ("pending", "processing", "exported")
    with server.client(admin_key) as client:
        by_path = client.get(f"/v1/tasks/{created['task_id']}").json()
    assert by_path["task_id"] == created["task_id"] and by_path["user_id"] == status["user_id"]


def test_result_link_is_an_attachment_and_refuses_tampering(server: Server, admin_key: str) -> None:
    import httpx

    from tests.helpers import submit

    with server.client(admin_key) as client:
        task_id = submit(client, b"+12025551234\n").json()["task_id"]
        status = wait_for_status(client, task_id)
    url = status["result_url"]
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="{task_id}.zip"'
    assert response.headers["content-type"] == "application/zip"

    signature = re.search(r"signature=([0-9a-f]+)", url).group(1)
    tampered_sig = url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    expires = re.search(r"expires=(\d+)", url).group(1)
    extended = url.replace(f"expires={expires}", f"expires={int(expires) + 3600}")
    past = url.replace(f"expires={expires}", "expires=1000")
    other_task = url.replace(task_id, "0" * 20)
    for bad in (tampered_sig, extended, past, other_task):
        refused = httpx.get(bad)
        assert refused.status_code == 403, bad
        assert refused.json()["code"] == "invalid_signature"
    # The route reaches result zips only: a path outside the pattern is not found.
    assert httpx.get(
        f"{server.url}/results/..%2Fnumcheck.db?expires=1&signature=x"
    ).status_code in (403, 404)


def test_expired_link_is_refused(start_server) -> None:
    import time

    import httpx

    from tests.helpers import submit

    # Long enough for the fresh link below to be fetched in time on a loaded machine.
    server = start_server(result_link_ttl_seconds=4)
    with server.client(server.admin_key) as client:
        task_id = submit(client, b"+12025551234\n").json()["task_id"]
        status = wait_for_status(client, task_id)
    time.sleep(5.1)
    response = httpx.get(status["result_url"])
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_signature"
    with server.client(server.admin_key) as client:
        fresh = client.get(f"/v1/tasks/{task_id}").json()["result_url"]
    assert httpx.get(fresh).status_code == 200


def test_openapi_and_docs_are_served(server: Server) -> None:
    import httpx

    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert {"/v1/tasks", "/v1/gettasks", "/v1/tasks/{task_id}", "/healthz"} <= set(spec["paths"])
    assert httpx.get(f"{server.url}/docs").status_code == 200
