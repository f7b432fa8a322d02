"""Domain exceptions: one root, a stable machine `code` each, the docstring as default message.

Only `numcheck.api` knows which HTTP status each one becomes.
"""

from __future__ import annotations


class NumcheckError(Exception):
    """Something went wrong."""

    code = "error"

    def __init__(self, message: str | None = None, **details: object) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.details = details
        super().__init__(self.message)


class InvalidRequest(NumcheckError):
    """The request is missing a field or has a malformed one."""

    code = "invalid_request"


class UnknownCheck(NumcheckError):
    """Unknown task_type."""

    code = "unknown_task_type"


class EmptyFile(NumcheckError):
    """The file has no non-blank line."""

    code = "empty_file"


class BinaryFile(NumcheckError):
    """The file looks binary (it contains NUL characters); send a text file, one number a line."""

    code = "binary_file"


class UndecodableFile(NumcheckError):
    """The file is neither UTF-8 nor UTF-16 with a byte-order mark."""

    code = "undecodable_file"


class FileTooLarge(NumcheckError):
    """The file is over the size limit."""

    code = "file_too_large"


class TooManyLines(NumcheckError):
    """The file has more lines than the limit."""

    code = "too_many_lines"


class LineTooLong(NumcheckError):
    """A line of the file is longer than the limit."""

    code = "line_too_long"


class RequestTimeout(NumcheckError):
    """The request body arrived too slowly; send it again at a steadier pace."""

    code = "request_timeout"


class NotAuthenticated(NumcheckError):
    """Missing, unknown or revoked API key; send it in the X-API-Key header."""

    code = "invalid_api_key"


class MetricsTokenRequired(NumcheckError):
    """Scraping /metrics needs `Authorization: Bearer <NUMCHECK_METRICS_TOKEN>`."""

    code = "invalid_metrics_token"


class KeyInQueryString(NumcheckError):
    """API keys are accepted only in the X-API-Key header, never in the URL (URLs get logged)."""

    code = "key_in_query_string"


class Forbidden(NumcheckError):
    """This endpoint is for administrators."""

    code = "forbidden"


class InvalidSignature(NumcheckError):
    """The result link is invalid or has expired; ask for the task's status to get a fresh one."""

    code = "invalid_signature"


class TaskNotFound(NumcheckError):
    """No such task."""

    code = "task_not_found"


class ResultUnavailable(NumcheckError):
    """The task has no downloadable result (not exported yet, or its files were deleted)."""

    code = "result_unavailable"


class TaskNotFinished(NumcheckError):
    """The task is still running: its results are there once it is exported."""

    code = "task_not_finished"


class UserNotFound(NumcheckError):
    """No such user."""

    code = "user_not_found"


class KeyNotFound(NumcheckError):
    """No such API key."""

    code = "key_not_found"


class RegistryNotFound(NumcheckError):
    """No such registry."""

    code = "registry_not_found"


class RegistryKeyMismatch(NumcheckError):
    """This process's registry key is not the key the registries were hashed with."""

    code = "registry_key_mismatch"


class InsufficientCredits(NumcheckError):
    """Not enough credits for this task."""

    code = "insufficient_credits"


class CreditsUnlimited(NumcheckError):
    """This user is unlimited; set a balance first to meter them."""

    code = "credits_unlimited"


class RateLimited(NumcheckError):
    """Too many requests; retry after the time in the Retry-After header."""

    code = "rate_limited"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyActiveTasks(RateLimited):
    """Too many of your tasks are pending or processing; retry when one has finished."""

    code = "too_many_active_tasks"


class TooManyUploads(RateLimited):
    """Too many uploads with this API key are streaming right now; retry when one has finished."""

    code = "too_many_uploads"


class IdempotencyInProgress(NumcheckError):
    """A request with this Idempotency-Key is still being processed; retry later."""

    code = "idempotency_in_progress"


class IdempotencyMismatch(NumcheckError):
    """This Idempotency-Key was used with a different request (file or fields)."""

    code = "idempotency_mismatch"


class InvalidCallbackUrl(NumcheckError):
    """callback_url must be an http(s) URL of a public host."""

    code = "invalid_callback_url"
