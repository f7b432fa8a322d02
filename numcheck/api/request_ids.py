"""X-Request-ID: every response carries one, and every log record of the request too.

The caller's id is kept when it is 1 to 128 printable ASCII characters without spaces (what
proxies and load balancers send); anything else is replaced by a generated one, never echoed:
a header value ends up in logs and in other systems' headers.
"""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from numcheck import logs

HEADER = "X-Request-ID"
_VALID = re.compile(rb"[\x21-\x7e]{1,128}")


def accepted(given: bytes | None) -> str:
    """The caller's id if it is acceptable, else a new one."""
    if given is not None and _VALID.fullmatch(given):
        return given.decode("ascii")
    return uuid.uuid4().hex


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = [value for name, value in scope["headers"] if name == b"x-request-id"]
        request_id = accepted(given[0] if len(given) == 1 else None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with logs.context(request_id=request_id):
            await self.app(scope, receive, send_with_id)
