"""The error table, in process: status, code, and that nothing was created."""

import codecs
import sqlite3
from pathlib import Path

import httpx
import pytest

from numcheck.services import accounts
from tests.api.conftest import InProcess, InProcessFactory
from tests.helpers import submit


@pytest.fixture(scope="module")
def limited(in_process: InProcessFactory) -> InProcess:
    return in_process(max_upload_bytes=200_000, max_lines=1000, max_line_chars=100)


def snapshot(server: InProcess) -> tuple[int, int, list[str]]:
    """Task rows, chunk rows and every file under the blob store."""
    with sqlite3.connect(
        f"file:{server.settings.data_dir / 'numcheck.db'}?mode=ro", uri=True
    ) as db:
        tasks = db.execute("SELECT count(*) FROM tasks").fetchone()[0]
        chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    blob_root = server.settings.data_dir / "blobs"
    files = sorted(str(p.relative_to(blob_root)) for p in blob_root.rglob("*") if p.is_file())
    return tasks, chunks, files


def assert_refused(
    server: InProcess, response: httpx.Response, status: int, code: str, before
) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert snapshot(server) == before, "a refused request left something behind"
    return body


def upload(client: httpx.Client, content: bytes, **fields: str) -> httpx.Response:
    return submit(client, content, **fields)


BAD_FILES = [
    (b"", 400, "empty_file"),
    (b"\n  \n\r\n", 400, "empty_file"),
    (b"+12025551234\n\x00\x00\x00\x01binary", 400, "binary_file"),
    (b"+12025551234\n\xff\xd8\xff\xe0 jpeg?", 400, "undecodable_file"),
    (codecs.BOM_UTF16_LE + b"\x00\xd8", 400, "undecodable_file"),
    (b"+12025551234\n" * 1001, 413, "too_many_lines"),
    (b"+1" + b"2" * 200 + b"\n", 413, "line_too_long"),
    (b"\n" * 200_001, 413, "file_too_large"),
]


@pytest.mark.parametrize(("content", "status", "code"), BAD_FILES, ids=[c for *_, c in BAD_FILES])
def test_bad_files(limited: InProcess, content: bytes, status: int, code: str) -> None:
    before = snapshot(limited)
    with limited.client(limited.admin_key) as client:
        assert_refused(limited, upload(client, content), status, code, before)


def test_missing_and_unknown_fields(limited: InProcess) -> None:
    before = snapshot(limited)
    with limited.client(limited.admin_key) as client:
        no_file = client.post(
            "/v1/tasks", data={"task_type": "validate"}, files={"other": ("x", b"1")}
        )
        assert_refused(limited, no_file, 400, "invalid_request", before)
        no_type = client.post("/v1/tasks", files={"file": ("n.txt", b"+12025551234\n")})
        assert (
            "validate"
            in assert_refused(limited, no_type, 400, "invalid_request", before)["message"]
        )
        unknown = upload(client, b"+12025551234\n", task_type="whatsapp")
        body = assert_refused(limited, unknown, 400, "unknown_task_type", before)
        assert "validate" in body["message"]  # lists the caller's checks
        region = upload(client, b"2025551234\n", default_region="XX")
        assert_refused(limited, region, 400, "invalid_request", before)
        not_multipart = client.post(
            "/v1/tasks", content=b"+12025551234\n", headers={"Content-Type": "text/plain"}
        )
        assert_refused(limited, not_multipart, 400, "invalid_request", before)
        two_files = client.post(
            "/v1/tasks",
            data={"task_type": "validate"},
            files=[("file", ("a.txt", b"+12025551234\n")), ("file", ("b.txt", b"+12025551234\n"))],
        )
        assert_refused(limited, two_files, 400, "invalid_request", before)


def test_authentication(limited: InProcess, tmp_path: Path) -> None:
    before = snapshot(limited)
    files = {"file": ("n.txt", b"+12025551234\n")}
    with limited.client() as anonymous:
        missing = anonymous.post("/v1/tasks", files=files, data={"task_type": "validate"})
        assert_refused(limited, missing, 401, "invalid_api_key", before)
        for key in ("nonsense", "nck_aaaaaaaa_bbbbbbbb", limited.admin_key + "x"):
            wrong = anonymous.post(
                "/v1/tasks", files=files, data={"task_type": "validate"}, headers={"X-API-Key": key}
            )
            assert_refused(limited, wrong, 401, "invalid_api_key", before)
        in_query = anonymous.post(
            "/v1/tasks",
            params={"api_key": limited.admin_key},
            files=files,
            data={"task_type": "validate"},
        )
        assert_refused(limited, in_query, 401, "key_in_query_string", before)
        # Even with a valid header, a key in the URL is refused: it would end up in logs.
        both = anonymous.get(
            "/v1/tasks", params={"api_key": "x"}, headers={"X-API-Key": limited.admin_key}
        )
        assert both.status_code == 401

    key = limited.create_key("carol")
    prefix = key.split("_")[1]
    with limited.client(key) as carol:
        assert carol.get("/v1/tasks").status_code == 200
        with limited.runtime.stores.sessions.begin() as session:
            accounts.revoke_key(session, prefix, actor="test")
        assert_refused(
            limited,
            carol.post("/v1/tasks", files=files, data={"task_type": "validate"}),
            401,
            "invalid_api_key",
            before,
        )


def test_unknown_task(limited: InProcess) -> None:
    before = snapshot(limited)
    with limited.client(limited.admin_key) as client:
        for call in (
            lambda: client.get("/v1/tasks/" + "0" * 20),
            lambda: client.post("/v1/gettasks", data={"task_id": "0" * 20}),
            lambda: client.post("/v1/gettasks", json={"task_id": "x"}),
            lambda: client.delete("/v1/tasks/" + "0" * 20),
        ):
            assert_refused(limited, call(), 404, "task_not_found", before)
        assert_refused(
            limited, client.post("/v1/gettasks", json={}), 400, "invalid_request", before
        )
        assert_refused(
            limited,
            client.post("/v1/gettasks", content=b"{", headers={"Content-Type": "application/json"}),
            400,
            "invalid_request",
            before,
        )
        assert_refused(limited, client.get("/v1/nothing-here"), 404, "not_found", before)


def test_a_file_exactly_at_the_limits_is_accepted(limited: InProcess) -> None:
    with limited.client(limited.admin_key) as client:
        response = upload(client, b"+12025551234\n" * 1000)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 1000


def test_status_calls_check_the_key_before_anything_else(limited: InProcess) -> None:
    """The status routes check the key in the call that reads the task (one trip to the
    thread pool): still before the body's errors and the task's existence, and a revoked key
    is refused at once."""
    before = snapshot(limited)
    key = limited.create_key("dave")
    dave = {"X-API-Key": key}
    with limited.client() as client:
        for call in (
            lambda: client.get("/v1/tasks/" + "0" * 20),
            lambda: client.post("/v1/gettasks", json={"task_id": "0" * 20}),
            lambda: client.post("/v1/gettasks", json={}),  # a bad body: 401 all the same
            lambda: client.post("/v1/gettasks", content=b"{", headers={"X-API-Key": "x"}),
        ):
            assert_refused(limited, call(), 401, "invalid_api_key", before)
        for call in (
            lambda: client.get("/v1/tasks/" + "0" * 20, params={"key": key}, headers=dave),
            lambda: client.post("/v1/gettasks", params={"api_key": key}, json={}, headers=dave),
        ):
            assert_refused(limited, call(), 401, "key_in_query_string", before)
        client.headers.update(dave)
        task_id = submit(client, b"+12025551234\n").json()["task_id"]
        assert client.get(f"/v1/tasks/{task_id}").status_code == 200
        assert client.post("/v1/gettasks", json={"task_id": task_id}).status_code == 200
        with limited.runtime.stores.sessions.begin() as session:
            accounts.revoke_key(session, key.split("_")[1], actor="test")
        assert client.get(f"/v1/tasks/{task_id}").status_code == 401
        assert client.post("/v1/gettasks", json={"task_id": task_id}).status_code == 401
        assert client.post("/v1/gettasks", json={}).status_code == 401


def test_a_client_entered_leaves_the_running_app_alone(limited: InProcess) -> None:
    """Entering a client of the in-process app must not run its lifespan again: that started a
    second runtime (stores, sweeper, worker pool) on the same SQLite file and put it in the
    app's state."""
    running = limited.runtime
    with limited.client(limited.admin_key) as client:
        assert client.get("/healthz").status_code == 200
    assert limited.runtime is running
