"""Typed errors for the wire contract's error codes: catch a class, read `.code` for the exact
word."""

from __future__ import annotations


class NumcheckClientError(Exception):
    """A request the server refused or could not answer."""

    def __init__(self, status: int, code: str, message: str, body: dict | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.body = status, code, message, body or {}


class InvalidRequest(NumcheckClientError):
    """400: a missing or bad field, an unknown task_type, an empty or binary file."""


class Unauthorized(NumcheckClientError):
    """401: missing, unknown or revoked API key."""


class InsufficientCredits(NumcheckClientError):
    """402: `body["required"]` and `body["available"]` say how many."""


class Forbidden(NumcheckClientError):
    """403: an admin-only endpoint, or a bad or expired result link."""


class NotFound(NumcheckClientError):
    """404: no such task (or not yours)."""


class Conflict(NumcheckClientError):
    """409: the same Idempotency-Key is still being processed."""


class PayloadTooLarge(NumcheckClientError):
    """413: the file is over the size or line limit."""


class Unprocessable(NumcheckClientError):
    """422: an Idempotency-Key reused with a different request."""


class RateLimited(NumcheckClientError):
    """429: retried automatically; raised when the retries ran out."""


class ServerError(NumcheckClientError):
    """5xx, or the server could not be reached; retried automatically first."""


class TaskFailed(Exception):
    """A task ended failed, cancelled or expired instead of exported."""

    def __init__(self, status: dict) -> None:
        super().__init__(
            f"task {status.get('task_id')} ended {status.get('status')}: "
            f"{status.get('message', '')}".rstrip(": ")
        )
        self.status = status


BY_STATUS: dict[int, type[NumcheckClientError]] = {
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


def from_response(status: int, body: dict) -> NumcheckClientError:
    cls = BY_STATUS.get(status, ServerError if status >= 500 else NumcheckClientError)
    return cls(status, str(body.get("code", "http_error")), str(body.get("message", "")), body)
