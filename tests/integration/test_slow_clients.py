"""Slow clients cannot hold the server: dribbled heads are cut, crawling or stalled bodies get
408, and connections beyond the cap are refused at once."""

from __future__ import annotations

import contextlib
import json
import socket
import time

import httpx

from tests.helpers import raw_request

BOUNDARY = "slowboundary"


def closed_within(sock: socket.socket, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection (fails after `seconds`)."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def upload_head(key: str, length: int) -> bytes:
    return (
        "POST /v1/tasks HTTP/1.1\r\nHost: x\r\n"
        f"X-API-Key: {key}\r\nContent-Length: {length}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="task_type"\r\n\r\nvalidate\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="n.txt"\r\n\r\n'
    ).encode()


def nothing_kept(server, key: str) -> None:  # type: ignore[no-untyped-def]
    with server.client(key) as client:
        assert client.get("/v1/tasks").json()["tasks"] == []
    assert not list((server.data_dir / "blobs" / "uploads").glob("*"))


def test_a_request_head_dribbled_a_byte_at_a_time_is_cut(start_server) -> None:
    server = start_server(header_timeout_seconds=1)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        try:
            for _ in range(40):  # a header byte every 0.1 s: never a complete head
                sock.sendall(b"X")
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert closed_within(sock, 10) == b""
        assert time.monotonic() - started < 6
    assert "no complete request head" in server.log()
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_keep_alive_connection_gets_a_fresh_head_deadline(start_server) -> None:
    server = start_server(header_timeout_seconds=2)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for _ in range(3):  # each request well within its deadline, together longer than one
            time.sleep(1)
            status = raw_request(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status.startswith(b"HTTP/1.1 200"), status


def test_pipelined_requests_are_answered_and_the_next_head_still_has_a_deadline(
    start_server,
) -> None:
    """httptools queues a request whose head arrives during the previous response: both are
    answered, and a head dribbled after them is cut all the same."""
    server = start_server(header_timeout_seconds=1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        received = b""
        while received.count(b"HTTP/1.1 200") < 2 or not received.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(40):
                sock.sendall(b"X")
                time.sleep(0.1)
        assert closed_within(sock, 10) == b""
        assert time.monotonic() - started < 4
    assert "no complete request head" in server.log()


def test_a_body_that_crawls_gets_408_and_nothing_is_kept(start_server) -> None:
    server = start_server(body_timeout_seconds=1, min_body_bytes_per_second=200)
    key = server.create_key("crawler")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(upload_head(key, 100_000))
        reply = b""
        try:
            for _ in range(100):  # 10 bytes a second: under the 200 required after 1 s
                sock.sendall(b"1")
                time.sleep(0.1)
                sock.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    reply += sock.recv(65536)
                sock.setblocking(True)
                if reply:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply += closed_within(sock, 10)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), reply[:300]
    assert json.loads(body)["code"] == "request_timeout"
    nothing_kept(server, key)


def test_a_body_that_stalls_gets_408(start_server) -> None:
    server = start_server(body_timeout_seconds=1)
    key = server.create_key("staller")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(upload_head(key, 100_000) + b"+12025550101\n" * 100)
        started = time.monotonic()
        reply = closed_within(sock, 10)
        assert time.monotonic() - started < 6
    assert reply.startswith(b"HTTP/1.1 408"), reply[:300]
    nothing_kept(server, key)


def test_connections_over_the_cap_are_refused_at_once(start_server) -> None:
    server = start_server(max_connections=4, header_timeout_seconds=30)
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
    try:
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", server.port)) as extra:
            reply = closed_within(extra, 5)
        assert reply.startswith(b"HTTP/1.1 503"), reply
        assert json.loads(reply.partition(b"\r\n\r\n")[2])["code"] == "service_unavailable"
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            if httpx.get(f"{server.url}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "connections were not given back"
        time.sleep(0.1)
