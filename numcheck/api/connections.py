"""Slow clients cannot hold the server: a request's head must arrive within a deadline, a body
may neither stall nor crawl, and open connections are capped.

Without these a client that dribbles its headers or its body a byte at a time keeps a
connection (a file descriptor, and for a body a slot of the upload's key) for ever, and enough
of them exhaust the server. uvicorn times out only idle keep-alive connections, so the head
deadline and the connection cap live in a subclass of its HTTP/1.1 protocol, and the body
deadlines in an ASGI middleware.

The server speaks HTTP/1.1 through uvicorn's httptools protocol (llhttp, in C: a fraction of
the per-request CPU of the pure-Python h11 one).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from numcheck import errors

log = logging.getLogger(__name__)

_BUSY_BODY = json.dumps(
    {"code": "service_unavailable", "message": "Too many open connections; retry shortly."}
).encode()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"retry-after: 1\r\nconnection: close\r\ncontent-length: "
    + str(len(_BUSY_BODY)).encode()
    + b"\r\n\r\n"
    + _BUSY_BODY
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools) with a cap on open connections and a deadline
    for each request's head; configure it through `guarded_protocol`. The head deadline runs
    from the connection's start, and again after each response unless the next
    request's head is already in (pipelined); it ends when a head is complete."""

    header_timeout: float = 10.0
    max_connections: int = 1000

    _head_deadline: asyncio.TimerHandle | None = None
    _refused = False

    # uvicorn's own protocol narrows asyncio's BaseTransport to Transport the same way.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refused = True
            transport.write(_BUSY)
            transport.close()
            log.warning("refused a connection: %d are open already", len(self.connections))
            return
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return  # never set up: nothing of the base class's to tear down
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()  # the request line and headers are in
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        next_head_in = bool(self.pipeline)  # a pipelined request, its head complete, waits
        super().on_response_complete()
        if not self.transport.is_closing() and not next_head_in:
            self._arm_head_deadline()  # the next request on this keep-alive connection

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None  # disarmed when a head completes: none has since it was armed
        if not self.transport.is_closing():
            log.warning(
                "closed a connection: no complete request head in %.0f s", self.header_timeout
            )
            self.transport.close()


def guarded_protocol(header_timeout: float, max_connections: int) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to give uvicorn (`http=`), with these limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"header_timeout": header_timeout, "max_connections": max_connections},
    )


class SlowBodies:
    """A request body may pause at most `pause` seconds between pieces, and after its first
    `pause` seconds it must keep an average of `min_rate` bytes a second: else 408
    request_timeout, and the connection is closed. Only while the body is arriving: once it is
    complete, `receive` (which then only reports a disconnect) is left alone."""

    def __init__(self, app: ASGIApp, *, pause: float, min_rate: int) -> None:
        self.app = app
        self._pause = pause
        self._min_rate = min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        received = 0
        body_complete = False
        timed_out = False

        async def guarded_receive() -> Message:
            nonlocal received, body_complete, timed_out
            if body_complete:
                return await receive()
            if timed_out:
                raise errors.RequestTimeout()
            allowed_until = started + self._pause + received / self._min_rate
            wait = min(self._pause, allowed_until - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), max(wait, 0.0))
            except TimeoutError:
                timed_out = True
                raise errors.RequestTimeout() from None
            received += len(message.get("body", b""))
            body_complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        try:
            await self.app(scope, guarded_receive, send)
        except errors.RequestTimeout:
            if not timed_out:
                raise
            # Answered already (408, by the error handler); only the drain of the rest failed.
