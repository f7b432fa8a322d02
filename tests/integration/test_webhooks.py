"""Webhooks: delivered signed to a local receiver, retried when it fails, private hosts refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from tests.conftest import free_port, submit


class Receiver:
    """A local endpoint that fails its first `failures` deliveries with 500."""

    def __init__(self, failures: int = 0) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                status = 500 if receiver.attempts <= failures else 204
                if status == 204:
                    receiver.received.append((dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def wait(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} webhooks"
            time.sleep(0.05)


def test_delivered_signed_and_retried(start_server) -> None:
    server = start_server(webhook_allow_private="true")
    key = server.create_key("hooked")
    ok, flaky = Receiver(), Receiver(failures=2)
    try:
        with server.client(key) as client:
            secret = client.get("/v1/account").json()["webhook_secret"]
            first = submit(client, b"+12025550101\n", callback_url=ok.url).json()["task_id"]
            second = submit(client, b"+12025550101\n", callback_url=flaky.url).json()["task_id"]
            ok.wait(1)
            flaky.wait(1, timeout=60)
        headers, body = ok.received[0]
        expected = hmac.new(
            secret.encode(), headers["X-Numcheck-Timestamp"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        assert headers["X-Numcheck-Signature"] == f"sha256={expected}"
        status = json.loads(body)
        assert (
            status["task_id"] == first and status["status"] == "exported" and status["success"] == 1
        )
        assert json.loads(flaky.received[0][1])["task_id"] == second
        assert flaky.attempts == 3  # two failures, then delivered; never twice after success
        time.sleep(1.5)
        assert len(ok.received) == 1 and ok.attempts == 1
    finally:
        ok.server.shutdown()
        flaky.server.shutdown()


def test_private_address_callbacks_are_refused_at_creation(start_server) -> None:
    server = start_server()  # default: private destinations refused
    with server.client(server.admin_key) as client:
        for url in (
            "http://127.0.0.1:9/hook",
            "http://localhost/hook",
            "http://10.0.0.1/x",
            "http://169.254.169.254/latest",
            "http://[::1]/x",
            "ftp://example.com/x",
            "http://user:pw@example.com/x",
        ):
            refused = submit(client, b"+12025550101\n", callback_url=url)
            assert refused.status_code == 400, url
            assert refused.json()["code"] == "invalid_callback_url"
        assert client.get("/v1/tasks").json()["tasks"] == []
