"""Webhooks: delivered signed to a local receiver, retried when it fails, private hosts refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.helpers import BUCKET, Server, free_port, fresh_postgres, submit


class Receiver:
    """A local endpoint that fails its first `failures` deliveries with 500 and takes `delay`
    seconds over each answer; it counts the deliveries it accepted per task."""

    def __init__(self, failures: int = 0, delay: float = 0) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.per_task: Counter[str] = Counter()
        self.attempts = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay)
                with lock:
                    receiver.attempts += 1
                    status = 500 if receiver.attempts <= failures else 204
                    if status == 204:
                        receiver.received.append((dict(self.headers.items()), body))
                        receiver.per_task[json.loads(body)["task_id"]] += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def wait(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} webhooks"
            time.sleep(0.05)


class DribblingReceiver:
    """A local endpoint that answers its first delivery one byte every half second (never
    finishing within a test) and later ones at once; it notes when each arrives and when the
    sender hung up on the first."""

    def __init__(self) -> None:
        self.first_arrived = threading.Event()
        self.hung_up = threading.Event()
        self.times: dict[str, float] = {}
        self.delivered: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not receiver.first_arrived.is_set():
                    receiver.times["first"] = time.monotonic()
                    receiver.first_arrived.set()
                    self._dribble()
                    return
                receiver.delivered.append(body)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _dribble(self) -> None:
                try:
                    for byte in b"HTTP/1.1 204 No Content\r\nX-Slow: " + b"a" * 1000:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.5)
                except OSError:  # the sender gave up and closed the connection
                    receiver.times["hung_up"] = time.monotonic()
                    receiver.hung_up.set()
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/slow"


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
        log = server.log()  # a callback URL may carry the receiver's token: never logged
        assert "task_id=" + first in log and ok.url not in log and flaky.url not in log
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


def created_state(server: Server) -> tuple[int, int, int, list[str]]:
    """Task, chunk and ledger rows, and every file under the blob store."""
    with sqlite3.connect(f"file:{server.data_dir / 'numcheck.db'}?mode=ro", uri=True) as db:
        counts = [
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("tasks", "chunks", "credit_ledger")
        ]
    blob_root = server.data_dir / "blobs"
    files = sorted(str(p.relative_to(blob_root)) for p in blob_root.rglob("*") if p.is_file())
    return counts[0], counts[1], counts[2], files


MALFORMED_URLS = [
    "http://example.com:99999/hook",  # port out of range
    "http://example.com:abc/hook",  # port not a number
    "http://example.com:0/hook",  # port zero: nothing listens there
    "http://[::1/hook",  # IPv6 bracket not closed
    "http://::1]/hook",  # nor opened
    "http://[example.com]/hook",  # brackets around a name
    " http://example.com/hook",  # parsers disagree on what this is
    "http:///hook",  # no host
    "https://exa mple.com/hook",
]


def test_malformed_callback_urls_are_refused_and_create_nothing(start_server) -> None:
    server = start_server(webhook_allow_private="true")  # refused as malformed, not as private
    before = created_state(server)
    with server.client(server.admin_key) as client:
        answers = {
            url: submit(client, b"+12025550101\n", callback_url=url) for url in MALFORMED_URLS
        }
        assert {url: (r.status_code, r.json()["code"]) for url, r in answers.items()} == {
            url: (400, "invalid_callback_url") for url in MALFORMED_URLS
        }
        assert client.get("/v1/tasks").json()["tasks"] == []
    assert created_state(server) == before


def test_two_api_servers_on_one_database_deliver_each_task_exactly_once(
    tmp_path, s3_endpoint
) -> None:
    # A slow receiver widens the window in which both servers could pick the same delivery.
    receiver = Receiver(delay=0.5)
    with fresh_postgres() as database:
        env = {
            "NUMCHECK_DATABASE_URL": database,
            "NUMCHECK_STORAGE_URL": f"s3://{BUCKET}/webhooks",
            "NUMCHECK_WEBHOOK_ALLOW_PRIVATE": "true",
            "NUMCHECK_MAX_ACTIVE_TASKS": "100",
        }
        servers = [Server(tmp_path / f"api-{n}", env=env) for n in range(2)]
        assert servers[0].cli("db", "upgrade").returncode == 0
        try:
            for server in servers:
                server.start()
            key = servers[0].admin_key
            task_ids = []
            for n in range(8):
                with servers[n % 2].client(key) as client:
                    created = submit(client, b"+12025550101\n", callback_url=receiver.url)
                    assert created.status_code == 200, created.text
                    task_ids.append(created.json()["task_id"])
            receiver.wait(len(task_ids), timeout=120)
            time.sleep(3)  # both servers sweep every second: a duplicate would have come by now
            assert receiver.per_task == {task_id: 1 for task_id in task_ids}
            for server in servers:
                assert "webhook delivery round failed" not in server.log()
        finally:
            for server in servers:
                server.stop()
            receiver.server.shutdown()


def test_a_slow_receiver_holds_back_only_its_own_webhook(start_server) -> None:
    server = start_server(webhook_allow_private="true", webhook_timeout_seconds="4")
    slow, fast = DribblingReceiver(), Receiver()
    try:
        with server.client(server.admin_key) as client:
            submit(client, b"+12025550101\n", callback_url=slow.url)
            assert slow.first_arrived.wait(60)
            fast_task = submit(client, b"+12025550101\n", callback_url=fast.url).json()["task_id"]
            fast.wait(1, timeout=30)  # the dribbling answer would take 8 minutes
            fast_at = time.monotonic()
            assert json.loads(fast.received[0][1])["task_id"] == fast_task
            # Delivered while the slow attempt was still hanging on...
            assert not slow.hung_up.is_set() or slow.times["hung_up"] > fast_at
            # ...which was given up at its deadline (4 s from connect to last byte)...
            assert slow.hung_up.wait(40)
            assert 3.5 < slow.times["hung_up"] - slow.times["first"] < 20
            # ...as a failed attempt, retried later: the second one is answered at once.
            deadline = time.monotonic() + 30
            while not slow.delivered:
                assert time.monotonic() < deadline, "the slow receiver's retry never came"
                time.sleep(0.05)
    finally:
        slow.server.shutdown()
        fast.server.shutdown()


def test_housekeeping_purges_delivered_webhooks_after_retention(start_server) -> None:
    receiver = Receiver()
    # Retention of about four seconds; housekeeping twice a second.
    server = start_server(
        webhook_allow_private="true", retention_days=0.00005, housekeeping_interval_seconds=0.5
    )
    with server.client(server.admin_key) as client:
        assert submit(client, b"+12025550101\n", callback_url=receiver.url).status_code == 200
    receiver.wait(1)
    database = server.data_dir / "numcheck.db"
    deadline = time.monotonic() + 60
    while True:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            left = db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0]
        if left == 0:
            break
        assert time.monotonic() < deadline, "the delivered webhook was never purged"
        time.sleep(0.2)
    time.sleep(2)  # and it is not delivered again
    assert receiver.attempts == 1
    receiver.server.shutdown()
