"""The API's documentation pages (/docs: Swagger UI 5, /redoc: ReDoc) load every asset from
this server (fastapi-offline's bundled copies). A Content-Security-Policy keeps it so: ReDoc's
bundle still points an image at its vendor's CDN, which the browser then never requests."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGES = frozenset({"/docs", "/redoc"})
CSP = (
    "default-src 'none'; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    # Swagger UI starts from an inline script and both style their elements inline; ReDoc
    # searches in a worker made from a blob.
    "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class DocsPolicy:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PAGES:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = CSP
            await send(message)

        await self.app(scope, receive, send_with_policy)
