"""One webhook POST: connected only to addresses checked beforehand, over within a deadline.

httpx resolves a URL's host again when it connects, and its timeouts apply to each network
operation, so a receiver sending a byte every few seconds could hold an attempt as long as it
liked. Here the connection goes through a network backend bound to the checked addresses (the
URL still gives the Host header and, for https, the SNI name and the name the certificate must
match), and every connect, TLS handshake, read and write gets only the time left until the
attempt's deadline.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Mapping

import httpcore
import httpx


def post(
    url: str,
    addresses: list[str],
    body: bytes,
    headers: Mapping[str, str],
    *,
    deadline: float,
    ssl_context: ssl.SSLContext,
) -> httpx.Response:
    """POST `body` to `url`, connecting only to `addresses`, all of it done by `deadline` (a
    time.monotonic() value). Raises httpx.HTTPError (a TimeoutException once the deadline
    passes)."""
    # The transport, not an httpx.Client: no proxy from the environment (it would connect on
    # our behalf, unchecked), no redirects, and no request log line carrying the URL (a
    # callback URL may hold the receiver's token).
    request = httpx.Request("POST", url, content=body, headers=headers)
    with PinnedTransport(addresses, deadline, ssl_context) as transport:
        response = transport.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
    return response


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport, with a connection pool that connects through PinnedBackend and keeps
    no connection alive (a connection is reused by address, not by name, so it must not outlive
    the request it was checked for)."""

    def __init__(self, addresses: list[str], deadline: float, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # HTTPTransport takes no network backend; its pool is replaced by one that does.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_keepalive_connections=0,
            network_backend=PinnedBackend(addresses, deadline),
        )


class PinnedBackend(httpcore.NetworkBackend):
    """Connects to the given addresses (in order, until one answers) whatever host it is asked
    for, and hands out streams bounded by the deadline."""

    def __init__(self, addresses: list[str], deadline: float) -> None:
        if not addresses:
            raise ValueError("PinnedBackend needs at least one address")
        self._addresses = addresses
        self._deadline = deadline
        self._system = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for address in self._addresses:
            try:
                stream = self._system.connect_tcp(
                    address,
                    port,
                    timeout=time_left(self._deadline, timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return DeadlineStream(stream, self._deadline)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks connect over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class DeadlineStream(httpcore.NetworkStream):
    """A network stream each of whose operations gets at most the time left until the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(
            max_bytes, time_left(self._deadline, timeout, httpcore.ReadTimeout)
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, time_left(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = time_left(self._deadline, timeout, httpcore.ConnectTimeout)
        return DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, left), self._deadline
        )

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


def time_left(
    deadline: float, timeout: float | None, expired: type[httpcore.TimeoutException]
) -> float:
    """The smaller of an operation's own timeout and the time left; `expired` once none is."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the webhook attempt's deadline has passed")
    return left if timeout is None else min(timeout, left)
