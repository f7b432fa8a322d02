"""Errors are the caller's when the caller is wrong, and never everyone's: junk in ids is a 4xx
on both engines, a 500 leaves the connection usable, a client that leaves is not a 500."""

from __future__ import annotations

import base64
import re
import socket
import sqlite3
import time

import httpx

from tests.helpers import Server, in_modes, raw_request

JUNK = ["%00", "abc%00def", "9m4e2mr0ui3e8a215n4%00", "%E2%80%AE", "a" * 300]


def concrete(path: str, value: str) -> str:
    import re

    return re.sub(r"\{[^}]+\}", value, path)


@in_modes("sqlite", "postgresql")
def test_junk_in_every_id_is_a_4xx_on_both_engines(server: Server, admin_key: str) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    with server.client(admin_key) as admin:
        for path, item in spec["paths"].items():
            if "{" not in path:
                continue
            for method in item:
                for value in JUNK:
                    answer = admin.request(method.upper(), concrete(path, value))
                    assert 400 <= answer.status_code < 500, (method, path, value, answer.text)
                    assert answer.json()["code"], (method, path, value)
        cursor = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|\x00abc").decode()
        for params in ({"cursor": cursor}, {"cursor": "\x00"}):
            answer = admin.get("/v1/tasks", params=params)
            assert answer.status_code == 400 and answer.json()["code"] == "invalid_request"
        for body in ({"task_id": "\x00"}, {"task_id": "9m4e2mr0ui3e8a215n4\x00"}):
            answer = admin.post("/v1/gettasks", json=body)
            assert answer.status_code == 404 and answer.json()["code"] == "task_not_found"
        answer = admin.post("/v1/admin/users", json={"name": "a\x00b"})
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_request"
        assert admin.get("/healthz").status_code == 200


def test_a_500_is_logged_once_and_leaves_the_connection_usable(start_server) -> None:
    server = start_server()
    # A fault of ours, not of the database's reachability: the table a route reads is gone.
    with sqlite3.connect(server.data_dir / "numcheck.db") as db:
        db.execute("ALTER TABLE audit_log RENAME TO audit_log_gone")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        failed = raw_request(
            sock,
            f"GET /v1/admin/audit HTTP/1.1\r\nHost: x\r\nX-API-Key: {server.admin_key}\r\n\r\n".encode(),
        )
        assert failed.startswith(b"HTTP/1.1 500"), failed
        # The same keep-alive connection answers the next request.
        after = raw_request(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert after.startswith(b"HTTP/1.1 200"), after
    with httpx.Client(base_url=server.url, headers={"X-API-Key": server.admin_key}) as client:
        body = client.get("/v1/admin/audit").json()
    assert body["code"] == "internal_error"
    log = server.log()
    assert "service_unavailable" not in log
    # Logged with its traceback once per failed request, and not again by the server itself.
    failed = re.findall(
        r"ERROR MainProcess numcheck\.api\.errors \[request_id=\w+\]: internal", log
    )
    assert len(failed) == 2
    assert "Traceback" in log
    assert "Exception in ASGI application" not in log


def test_a_client_that_disconnects_mid_upload_is_a_warning_not_a_500(start_server) -> None:
    server = start_server()
    boundary = "xyz"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            (
                "POST /v1/tasks HTTP/1.1\r\nHost: x\r\n"
                f"X-API-Key: {server.admin_key}\r\nContent-Length: 1000000\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
                f'--{boundary}\r\nContent-Disposition: form-data; name="task_type"\r\n\r\n'
                f"validate\r\n--{boundary}\r\n"
                'Content-Disposition: form-data; name="file"; filename="n.txt"\r\n\r\n'
                + "+12025550101\n"
                * 1000
            ).encode()
        )
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while "client disconnected" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    log = server.log()
    assert "Traceback" not in log and " ERROR " not in log
    assert "POST /v1/tasks 499" in log
    assert not list((server.data_dir / "blobs" / "uploads").glob("*"))
    with httpx.Client(base_url=server.url, headers={"X-API-Key": server.admin_key}) as client:
        assert client.get("/v1/tasks").json()["tasks"] == []
