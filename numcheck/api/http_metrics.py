"""Counts every request and times it, by method, route template and status.

The route is the template FastAPI matched (`/v1/tasks/{task_id}`), never the raw path: ids in
labels would make a series per task. A request no route matched counts as `unmatched`.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from numcheck.telemetry import metrics


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class HttpMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 499  # the client went away before any response (as the access log says)

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            labels = (scope["method"], route_template(scope), str(status))
            metrics.HTTP_REQUESTS.labels(*labels).inc()
            metrics.HTTP_DURATION.labels(*labels).observe(time.perf_counter() - started)
