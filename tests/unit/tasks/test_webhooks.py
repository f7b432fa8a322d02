"""Webhooks below the API: the callback URL and address rules, the pinned and deadline-bound
transport (with a resolver we control: DNS is a boundary we do not own), and the delivery
ledger on a real database."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from numcheck import errors
from numcheck.tasks import webhook_addresses, webhooks

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
