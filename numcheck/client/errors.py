"""Typed errors of the client, under one root (as httpx's are under `httpx.HTTPError`): catch
`NumcheckClientError` for all of them, a class for one case, and read `.code` for the exact word.

NumcheckClientError
├── APIError            the server answered with an error (`.status`, `.code`, `.body`)
│   ├── InvalidRequest, Unauthorized, InsufficientCredits, Forbidden, NotFound, Conflict,
│   │   PayloadTooLarge, Unprocessable, RateLimited
│   └── ServerError     5xx
│       └── Unreachable no answer at all (connection refused, reset, timed out)
├── TaskFailed          a task ended failed, cancelled or expired
├── TaskNotFinished     its results were asked for while it still runs
└── WaitTimeout         `wait(timeout=...)` ran out (also a TimeoutError)
"""

from __future__ import annotations

from typing import Any


class NumcheckClientError(Exception):
    """The root of every error the client raises."""

    code: str = "client_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class APIError(NumcheckClientError):
    """A request the server refused or could not answer."""

    def __init__(
        self, status: int, code: str, message: str, body: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.status, self.body = status, body or {}

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class InvalidRequest(APIError):
    """400: a missing or bad field, an unknown task_type, an empty or binary file."""


class Unauthorized(APIError):
    """401: missing, unknown or revoked API key."""


class InsufficientCredits(APIError):
    """402: `body["required"]` and `body["available"]` say how many."""


class Forbidden(APIError):
    """403: an admin-only endpoint, or a bad or expired result link."""


class NotFound(APIError):
    """404: no such task (or not yours)."""


class Conflict(APIError):
    """409: the same Idempotency-Key is still being processed."""


class PayloadTooLarge(APIError):
    """413: the file is over the size or line limit."""


class Unprocessable(APIError):
    """422: an Idempotency-Key reused with a different request."""


class RateLimited(APIError):
    """429: retried automatically; raised when the retries ran out."""


class ServerError(APIError):
    """5xx, or no answer at all; retried automatically first."""


class Unreachable(ServerError):
    """No answer from `url`: refused (given up on within seconds), reset or timed out (retried
    with backoff first). `.status` is 0."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(0, "unreachable", f"cannot reach {url}: {reason}")
        self.url, self.reason = url, reason


class TaskFailed(NumcheckClientError):
    """A task ended failed, cancelled or expired instead of exported; `.status` is its status
    body and `.code` its status."""

    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(
            f"task {status.get('task_id')} ended {status.get('status')}: "
            f"{status.get('message', '')}".rstrip(": "),
            code=str(status.get("status", "failed")),
        )
        self.status = status


class TaskNotFinished(NumcheckClientError):
    """The task is still pending or processing: wait for it first."""

    code = "not_finished"

    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(
            f"task {status.get('task_id')} is not finished yet "
            f"({status.get('status')}, {_done(status)}/{status.get('total', '?')} checked)"
        )
        self.status = status


class WaitTimeout(NumcheckClientError, TimeoutError):
    """`wait(timeout=...)` ran out while the task still runs."""

    code = "wait_timeout"


def _done(status: dict[str, Any]) -> int:
    return int(status.get("success", 0)) + int(status.get("failure", 0))


BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    402: InsufficientCredits,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: Unprocessable,
    429: RateLimited,
}


def from_response(status: int, body: dict[str, Any]) -> APIError:
    cls = BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    return cls(status, str(body.get("code", "http_error")), str(body.get("message", "")), body)
