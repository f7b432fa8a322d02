"""Webhooks below the API: the callback URL and address rules, the pinned and deadline-bound
transport (with a resolver we control: DNS is a boundary we do not own), and the delivery
ledger on a real database."""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from numcheck import errors, ids
from numcheck.config import Settings
from numcheck.storage import db
from numcheck.storage.models import Task, User, WebhookDelivery, utcnow
from numcheck.storage.stores import Stores
from numcheck.tasks import webhook_addresses, webhooks
from tests.helpers import fresh_postgres

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",  # IPv4-mapped
    "::8.8.8.8",  # IPv4-compatible
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "64:ff9b:1::808:808",  # local-use NAT64, /96 form
]
PRIVATE = [
    "127.0.0.1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "192.0.2.1",  # documentation
    "224.0.0.1",  # multicast
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:10.0.0.1",  # IPv4-mapped private
    "::ffff:127.0.0.1",
    "::10.0.0.1",  # IPv4-compatible private
    "::127.0.0.1",
    "::169.254.169.254",
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
    "64:ff9b:1:808:8:800::",  # local-use NAT64, /48 form: not readable for sure
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_may_be_called(address: str) -> None:
    assert webhook_addresses.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PRIVATE)
def test_private_addresses_and_ipv6_forms_carrying_them_may_not(address: str) -> None:
    assert not webhook_addresses.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:99999/hook",
        "http://example.com:65536/hook",
        "http://example.com:abc/hook",
        "http://example.com:-1/hook",
        "http://example.com:0/hook",
        "http://[::1/hook",
        "http://::1]/hook",
        "http://[example.com]/hook",
        "http://[::1]x/hook",
        " http://example.com/hook",
        "http://example.com/\nhook",
        "http:///hook",
        "https://exa mple.com/hook",
        "ftp://example.com/hook",
        "example.com/hook",
        "http://user:pw@example.com/hook",
        "http://user@example.com/hook",
        "http://example.com/" + "x" * 2000,
    ],
)
def test_malformed_urls_are_invalid_callback_urls(url: str) -> None:
    with pytest.raises(errors.InvalidCallbackUrl):
        webhooks.check_callback_url(url, allow_private=True)


def test_a_url_is_read_as_the_http_client_reads_it() -> None:
    target = webhook_addresses.parse("https://Bücher.example:8443/hook?x=1")
    assert (target.host, target.port) == ("xn--bcher-kva.example", 8443)
    assert webhook_addresses.parse("http://[::1]/hook").port == 80
    assert webhook_addresses.parse("https://[::1]/hook").host == "::1"


# --- one attempt: resolved once, connected only to a checked address, within the deadline ---

PUBLIC_ADDRESS = "93.184.216.34"  # a public address; the tests never really connect to it


class Receiver:
    """A local HTTP(S) endpoint that records the requests it answers with 204."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.server_names: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if ssl_context is not None:
            ssl_context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


class Resolver:
    """socket.getaddrinfo for names we choose: each lookup of a name gives its next answer
    (the last one repeats); other names go to the system resolver."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in self.answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        self.lookups.append(host)
        answers = self.answers[host]
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        return [_addrinfo(address, int(port)) for address in addresses]


def _addrinfo(address: str, port: int) -> tuple[Any, ...]:
    if ipaddress.ip_address(address).version == 6:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))


REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    resolver = Resolver()
    monkeypatch.setattr(socket, "getaddrinfo", resolver.getaddrinfo)
    return resolver


DEFAULT_TLS = ssl.create_default_context()


def attempt(url: str, *, allow_private: bool = False, **options: Any) -> str | None:
    return webhooks.send(
        url,
        b'{"task_id":"t1"}',
        "s3cret",
        allow_private=allow_private,
        timeout_seconds=options.pop("timeout_seconds", 5),
        ssl_context=options.pop("ssl_context", DEFAULT_TLS),
    )


def test_a_name_rebound_to_a_private_address_after_the_check_is_never_reached(
    dns: Resolver, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Public when checked, the receiver's loopback address on every lookup after that.
    dns.answers["rebind.test"] = [[PUBLIC_ADDRESS], ["127.0.0.1"]]
    connects: list[str] = []
    real_connect = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        connects.append(address[0])
        if address[0] == PUBLIC_ADDRESS:  # the public host is down, as far as this test goes
            raise ConnectionRefusedError(f"{PUBLIC_ADDRESS} refuses")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    error = attempt(f"http://rebind.test:{receiver.port}/hook")
    assert error == "ConnectError"
    assert receiver.requests == []
    assert connects == [PUBLIC_ADDRESS]  # the checked address, and only it
    assert dns.lookups == ["rebind.test"]  # resolved once for the attempt


def test_every_address_of_a_name_is_checked(dns: Resolver, receiver: Receiver) -> None:
    dns.answers["mixed.test"] = [[PUBLIC_ADDRESS, "127.0.0.1"]]
    error = attempt(f"http://mixed.test:{receiver.port}/hook")
    assert error == "callback_url resolves to a private, loopback or link-local address."
    assert receiver.requests == []


def test_the_pinned_connection_keeps_the_name_in_the_host_header(
    dns: Resolver, receiver: Receiver
) -> None:
    dns.answers["hooks.test"] = [["127.0.0.1"], ["10.9.9.9"]]  # a second lookup would go astray
    assert attempt(f"http://hooks.test:{receiver.port}/hook", allow_private=True) is None
    [(headers, body)] = receiver.requests
    assert headers["Host"] == f"hooks.test:{receiver.port}"
    assert body == b'{"task_id":"t1"}'
    assert dns.lookups == ["hooks.test"]


def test_an_unreachable_first_address_falls_back_to_the_next_checked_one(
    dns: Resolver, receiver: Receiver
) -> None:
    # 127.0.0.2 refuses: the receiver listens on 127.0.0.1 only.
    dns.answers["two.test"] = [["127.0.0.2", "127.0.0.1"]]
    assert attempt(f"http://two.test:{receiver.port}/hook", allow_private=True) is None
    assert len(receiver.requests) == 1


def test_https_keeps_sni_and_the_certificate_check_against_the_name(dns: Resolver) -> None:
    authority, server_context = _certificate_for("hooks.test")
    client_context = ssl.create_default_context(cadata=authority)
    tls_receiver = Receiver(server_context)
    try:
        dns.answers["hooks.test"] = [["127.0.0.1"]]
        dns.answers["impostor.test"] = [["127.0.0.1"]]
        url = f"https://hooks.test:{tls_receiver.port}/hook"
        assert attempt(url, allow_private=True, ssl_context=client_context) is None
        assert tls_receiver.server_names == ["hooks.test"]
        # The same address under another name: the certificate does not name it.
        impostor = f"https://impostor.test:{tls_receiver.port}/hook"
        assert attempt(impostor, allow_private=True, ssl_context=client_context) == "ConnectError"
        assert len(tls_receiver.requests) == 1
    finally:
        tls_receiver.close()


def _certificate_for(name: str) -> tuple[str, ssl.SSLContext]:
    """A throwaway authority (PEM) and a server context with a certificate it signed for `name`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def certificate(subject: str, key: Any, issuer: str, issuer_key: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("numcheck test CA", ca_key, "numcheck test CA", ca_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = certificate(name, leaf_key, "numcheck test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_file.write_bytes(leaf_cert.public_bytes(pem))
        key_file.write_bytes(
            leaf_key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
    return ca_cert.public_bytes(pem).decode(), context


class DribblingReceiver:
    """Reads a request, then sends its response one byte every `pause` seconds (never ends
    within a test) and notes when the client hung up."""

    def __init__(self, pause: float) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.hung_up = threading.Event()
        self._pause = pause
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            response = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000
            try:
                for byte in response:
                    connection.sendall(bytes([byte]))
                    time.sleep(self._pause)
            except OSError:
                self.hung_up.set()

    def close(self) -> None:
        self.listener.close()


def test_an_attempt_ends_at_its_deadline_however_the_receiver_dribbles(dns: Resolver) -> None:
    dribbler = DribblingReceiver(pause=0.2)  # each byte well within any per-read timeout
    try:
        dns.answers["slow.test"] = [["127.0.0.1"]]
        started = time.monotonic()
        error = attempt(
            f"http://slow.test:{dribbler.port}/hook", allow_private=True, timeout_seconds=1
        )
        assert error == "ReadTimeout"
        # Over at the deadline, not when the receiver is done (it would take 2,000 s).
        assert time.monotonic() - started < 10
        assert dribbler.hung_up.wait(10)
    finally:
        dribbler.close()


# --- the delivery ledger, on SQLite and on PostgreSQL ---

LEASE = timedelta(seconds=70)


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    with ExitStack() as stack:
        database_url = None
        if request.param == "postgresql":
            database_url = stack.enter_context(fresh_postgres())
        opened = Stores.open(Settings(data_dir=tmp_path / "data", database_url=database_url))
        stack.callback(opened.close)
        db.upgrade(opened.engine)
        yield opened


@pytest.fixture
def postgres_stores(tmp_path: Path) -> Iterator[Stores]:
    with fresh_postgres() as database_url:
        opened = Stores.open(Settings(data_dir=tmp_path / "data", database_url=database_url))
        db.upgrade(opened.engine)
        yield opened
        opened.close()


def ended_tasks(stores: Stores, count: int, url: str = "https://hooks.example/x") -> list[str]:
    """`count` exported tasks of one user, each with a callback_url."""
    with stores.sessions.begin() as session:
        user = with_secret(new_user(session))
        now = utcnow()
        tasks = [
            Task(
                id=ids.new_task_id(),
                user_id=user.id,
                task_type="validate",
                status="exported",
                total=1,
                success=1,
                failure=0,
                chunk_count=1,
                chunks_done=1,
                callback_url=url,
                created_at=now,
                updated_at=now,
            )
            for n in range(count)
        ]
        session.add_all(tasks)
    return [task.id for task in tasks]


def new_user(session: Session) -> User:
    user = User(id=ids.new_user_id(), name=f"user-{secrets.token_hex(4)}")
    session.add(user)
    session.flush()
    return user


def with_secret(user: User) -> User:
    """The user as after a first GET /v1/account: claims then only read the secret."""
    user.webhook_secret = secrets.token_hex(32)
    return user


def deliveries(stores: Stores) -> dict[str, WebhookDelivery]:
    with stores.sessions() as session:
        return {d.task_id: d for d in session.scalars(select(WebhookDelivery))}


def owe_all(session: Session) -> None:
    """What the transactions that ended these tasks did: owe each its webhook."""
    for task in session.scalars(select(Task).where(Task.callback_url.is_not(None))):
        webhooks.owe(session, task)


def enqueue(stores: Stores) -> None:
    with stores.sessions.begin() as session:
        owe_all(session)


def claim(stores: Stores, limit: int = 10) -> list[webhooks.Attempt]:
    with stores.sessions.begin() as session:
        return webhooks.claim_due(session, limit, LEASE)


def test_each_ended_task_is_owed_one_delivery(stores: Stores) -> None:
    task_ids = ended_tasks(stores, 3)
    enqueue(stores)
    enqueue(stores)
    owed = deliveries(stores)
    assert sorted(owed) == sorted(task_ids)
    assert json.loads(owed[task_ids[0]].body)["status"] == "exported"


def test_owing_the_same_task_at_once_is_not_an_error(
    postgres_stores: Stores,
) -> None:
    [task_id] = ended_tasks(postgres_stores, 1)
    first = postgres_stores.sessions()
    owe_all(first)  # inserted, not committed: the other transaction cannot see it
    outcome: list[IntegrityError | None] = []

    def other_server() -> None:
        try:
            with postgres_stores.sessions.begin() as second:
                owe_all(second)  # waits on the first one's unique key
            outcome.append(None)
        except IntegrityError as exc:  # the duplicate task id, as it was before
            outcome.append(exc)

    racing = threading.Thread(target=other_server)
    racing.start()
    racing.join(1)
    assert racing.is_alive()  # blocked on the first transaction's row
    first.commit()
    first.close()
    racing.join(30)
    assert outcome == [None]
    assert list(deliveries(postgres_stores)) == [task_id]


def test_a_leased_delivery_is_not_claimed_again_until_the_lease_expires(stores: Stores) -> None:
    [task_id] = ended_tasks(stores, 1)
    enqueue(stores)
    [attempt] = claim(stores)
    assert attempt.task_id == task_id
    assert claim(stores) == []  # another server's round, while the attempt runs
    with stores.sessions.begin() as session:
        session.execute(
            update(WebhookDelivery).values(leased_until=utcnow() - timedelta(seconds=1))
        )
    [again] = claim(stores)  # the attempt's server died: the lease ran out
    assert again.task_id == task_id and again.lease_token != attempt.lease_token


def test_servers_claiming_at_once_take_different_deliveries(postgres_stores: Stores) -> None:
    ended_tasks(postgres_stores, 4)
    enqueue(postgres_stores)
    with postgres_stores.sessions.begin() as first:
        mine = webhooks.claim_due(first, 2, LEASE)
        with postgres_stores.sessions.begin() as second:  # not blocked: SKIP LOCKED
            theirs = webhooks.claim_due(second, 10, LEASE)
    assert len(mine) == 2 and len(theirs) == 2
    assert {a.delivery_id for a in mine}.isdisjoint(a.delivery_id for a in theirs)


def test_outcomes_deliver_retry_and_give_up(stores: Stores) -> None:
    delivered_id, retried_id, abandoned_id = ended_tasks(stores, 3)
    enqueue(stores)
    with stores.sessions.begin() as session:
        session.execute(  # owed for over an hour: its next failure is its last
            update(WebhookDelivery)
            .where(WebhookDelivery.task_id == abandoned_id)
            .values(created_at=utcnow() - webhooks.GIVE_UP_AFTER)
        )
    by_task = {a.task_id: a for a in claim(stores)}
    with stores.sessions.begin() as session:
        webhooks.record(session, by_task[delivered_id], None)
        webhooks.record(session, by_task[retried_id], "HTTP 500")
        webhooks.record(session, by_task[abandoned_id], "ReadTimeout")
    rows = deliveries(stores)
    assert rows[delivered_id].delivered_at is not None and rows[delivered_id].attempts == 1
    assert rows[retried_id].delivered_at is None and rows[retried_id].gave_up_at is None
    assert rows[retried_id].last_error == "HTTP 500"
    assert rows[retried_id].next_attempt_at > utcnow()
    assert rows[abandoned_id].gave_up_at is not None
    assert all(row.leased_until is None for row in rows.values())
    assert claim(stores) == []  # delivered, backing off, given up


def test_a_late_failure_leaves_a_lease_taken_over_alone(stores: Stores) -> None:
    ended_tasks(stores, 1)
    enqueue(stores)
    [slow] = claim(stores)
    with stores.sessions.begin() as session:
        session.execute(
            update(WebhookDelivery).values(leased_until=utcnow() - timedelta(seconds=1))
        )
    [taken_over] = claim(stores)
    with stores.sessions.begin() as session:
        webhooks.record(session, slow, "ReadTimeout")  # the first server, finally giving up
    [row] = deliveries(stores).values()
    assert row.attempts == 0 and row.lease_token == taken_over.lease_token
    with stores.sessions.begin() as session:
        webhooks.record(session, taken_over, None)
    [row] = deliveries(stores).values()
    assert row.delivered_at is not None and row.attempts == 1


def test_servers_making_a_users_secret_at_once_agree_on_it(postgres_stores: Stores) -> None:
    with postgres_stores.sessions.begin() as session:
        user_id = new_user(session).id
    first = postgres_stores.sessions()
    made_first = webhooks.webhook_secret(first, user_id)
    seen: list[str] = []

    def other_server() -> None:
        with postgres_stores.sessions.begin() as second:
            seen.append(webhooks.webhook_secret(second, user_id))

    racing = threading.Thread(target=other_server)
    racing.start()
    racing.join(1)
    first.commit()
    first.close()
    racing.join(30)
    assert seen == [made_first]
    with postgres_stores.sessions() as session:
        assert webhooks.webhook_secret(session, user_id) == made_first


def test_purge_removes_deliveries_finished_before_the_cutoff_for_good(stores: Stores) -> None:
    old_delivered, old_abandoned, new_delivered, old_pending = ended_tasks(stores, 4)
    enqueue(stores)
    long_ago = utcnow() - timedelta(days=8)
    with stores.sessions.begin() as session:
        for task_id, values in (
            (old_delivered, {"delivered_at": long_ago}),
            (old_abandoned, {"gave_up_at": long_ago}),
            (new_delivered, {"delivered_at": utcnow()}),
            (old_pending, {"created_at": long_ago}),  # owed long ago, still being tried
        ):
            session.execute(
                update(WebhookDelivery).where(WebhookDelivery.task_id == task_id).values(values)
            )
    assert webhooks.purge_finished(stores, timedelta(days=7)) == 2
    assert sorted(deliveries(stores)) == sorted([new_delivered, old_pending])
    enqueue(stores)  # the purged tasks are not owed a webhook again
    assert sorted(deliveries(stores)) == sorted([new_delivered, old_pending])
    with stores.sessions() as session:
        urls = {
            row.id: row.callback_url for row in session.execute(select(Task.id, Task.callback_url))
        }
    assert urls[old_delivered] is None and urls[old_abandoned] is None
    assert urls[new_delivered] == urls[old_pending] == "https://hooks.example/x"
    assert webhooks.purge_finished(stores, timedelta(days=7)) == 0


def test_purge_works_through_more_rows_than_one_batch(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "PURGE_BATCH", 2)
    ended_tasks(stores, 5)
    enqueue(stores)
    with stores.sessions.begin() as session:
        session.execute(update(WebhookDelivery).values(delivered_at=utcnow() - timedelta(days=8)))
    assert webhooks.purge_finished(stores, timedelta(days=7)) == 5
    assert deliveries(stores) == {}
