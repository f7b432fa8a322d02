"""One record per request: a log line (method, path, status, duration, task id; never a query
string, since result links carry signatures there, nor a header, a key or a number) and the HTTP
metrics (count and duration by method, route template and status). It is written as the last
message of the response goes out, so a client holding a whole response finds it already there,
or when the request ends without a response.

The metrics' route is the template FastAPI matched (`/v1/tasks/{task_id}`), never the raw path:
ids in labels would make a series per task. A request no route matched counts as `unmatched`.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from numcheck.telemetry import metrics

log = logging.getLogger("numcheck.access")


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        # Every request gets a response (UnexpectedErrors answers what crashed) unless the client
        # went away first: nginx's 499 "client closed request", not a 5xx to alert on.
        status = 499
        recorded = False

        def record() -> None:
            nonlocal recorded
            recorded = True
            seconds = time.perf_counter() - started
            labels = (scope["method"], route_template(scope), str(status))
            metrics.HTTP_REQUESTS.labels(*labels).inc()
            metrics.HTTP_DURATION.labels(*labels).observe(seconds)
            log.info(
                "%s %s %s %.1fms task_id=%s",
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
                state.get("task_id", "-"),
                extra={"task_id": state.get("task_id")},  # a field of its own in JSON logs
            )

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Recorded before the last body message leaves: a client holding a whole
                # response finds its log line and its metrics already there.
                record()
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            if not recorded:
                record()
