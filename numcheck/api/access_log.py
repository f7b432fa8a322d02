"""One log line per request: method, path, status, duration, task id. Never a query string
(result links carry signatures there), a header, a key or a number."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("numcheck.access")


class AccessLog:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        # Every request gets a response (UnexpectedErrors answers what crashed) unless the client
        # went away first: nginx's 499 "client closed request", not a 5xx to alert on.
        status = 499

        async def send_recording_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            log.info(
                "%s %s %s %.1fms task_id=%s",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
                state.get("task_id", "-"),
                extra={"task_id": state.get("task_id")},  # a field of its own in JSON logs
            )
