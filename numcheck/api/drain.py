"""Read and drop what a client still sends after its response: refusals arrive intact.

A request refused before its body is read (bad key, over a limit, a busy Idempotency-Key) would
otherwise leave a client that writes its whole upload before reading the answer with a reset
connection instead of the error. Draining is bounded in bytes and time.
"""

from __future__ import annotations

import time
from typing import Any

DRAIN_BYTES = 1 << 30
DRAIN_SECONDS = 60.0


class DrainUnreadBody:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def tracking_receive() -> dict[str, Any]:
            nonlocal body_done
            message = await receive()
            if message["type"] == "http.disconnect" or (
                message["type"] == "http.request" and not message.get("more_body", False)
            ):
                body_done = True
            return message

        await self.app(scope, tracking_receive, send)
        drained, deadline = 0, time.monotonic() + DRAIN_SECONDS
        while not body_done and drained < DRAIN_BYTES and time.monotonic() < deadline:
            message = await tracking_receive()
            drained += len(message.get("body", b""))
