"""The one place where exceptions become HTTP statuses and the error body of the wire contract
(docs/api.md)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from numcheck import errors, logs
from numcheck.storage import db
from numcheck.telemetry import metrics

log = logging.getLogger(__name__)

STATUS: dict[type[errors.NumcheckError], int] = {
    errors.InvalidRequest: 400,
    errors.UnknownCheck: 400,
    errors.EmptyFile: 400,
    errors.BinaryFile: 400,
    errors.UndecodableFile: 400,
    errors.InvalidCallbackUrl: 400,
    errors.NotAuthenticated: 401,
    errors.KeyInQueryString: 401,
    errors.MetricsTokenRequired: 401,
    errors.Forbidden: 403,
    errors.InvalidSignature: 403,
    errors.TaskNotFound: 404,
    errors.ResultUnavailable: 404,
    errors.UserNotFound: 404,
    errors.KeyNotFound: 404,
    errors.RegistryNotFound: 404,
    errors.InsufficientCredits: 402,
    errors.CreditsUnlimited: 409,
    errors.TaskNotFinished: 409,
    errors.IdempotencyInProgress: 409,
    errors.RegistryKeyMismatch: 409,
    errors.IdempotencyMismatch: 422,
    errors.RateLimited: 429,
    errors.FileTooLarge: 413,
    errors.TooManyLines: 413,
    errors.LineTooLong: 413,
    errors.RequestTimeout: 408,
}


def error_body(code: str, message: str, **details: object) -> dict[str, object]:
    """The error body; with the request's id (X-Request-ID), so a report names its log lines."""
    body: dict[str, object] = {"code": code, "message": message, **details}
    request_id = logs.current("request_id")
    if request_id is not None:
        body["request_id"] = request_id
    return body


def status_of(exc: errors.NumcheckError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.NumcheckError)
    headers = None
    if isinstance(exc, errors.RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
        metrics.RATE_LIMIT_REFUSALS.labels(exc.code).inc()
    elif isinstance(exc, errors.MetricsTokenRequired):
        headers = {"WWW-Authenticate": 'Bearer realm="metrics"'}
    elif isinstance(exc, errors.RequestTimeout):
        headers = {"Connection": "close"}  # the rest of a crawling body is not waited for
    return JSONResponse(
        error_body(exc.code, exc.message, **exc.details), status_of(exc), headers=headers
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return JSONResponse(error_body("invalid_request", "; ".join(problems) or "Bad request."), 400)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """Every method of every route of the request's path: Starlette's 405 names only those of
    the first route it matched (GET /v1/tasks and POST /v1/tasks are two routes)."""
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return JSONResponse(
        error_body(codes.get(exc.status_code, "http_error"), str(exc.detail)),
        exc.status_code,
        headers=headers or None,
    )


def _internal_error_response() -> JSONResponse:
    return JSONResponse(
        error_body("internal_error", "Internal error; nothing was charged. Retry later."), 500
    )


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, (DBAPIError, SQLAlchemyTimeoutError))
    if isinstance(exc, DBAPIError) and not db.is_unavailable(exc):
        log.error("internal error: %s", type(exc.orig).__name__, exc_info=exc)
        return _internal_error_response()
    # A database restart, failover or a full connection pool: the request's transaction was
    # rolled back; say so and when to come back. (The driver's message may name the host.)
    log.error("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
    return JSONResponse(
        error_body(
            "service_unavailable",
            "The database is unreachable; nothing was charged. Retry in a few seconds.",
        ),
        503,
        headers={"Retry-After": "5"},
    )


class UnexpectedErrors:
    """Whatever no handler took becomes a 500 with the error body, logged once with its
    traceback — and the connection stays usable: re-raising (Starlette's way) makes the server
    close it, resetting the client's next request on it. A client that went away mid-request is
    not a fault of ours: a warning, not a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            response_started |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except ClientDisconnect:
            log.warning("client disconnected before its request was read: %s", scope["method"])
        except Exception as exc:
            log.error("internal error: %s", type(exc).__name__, exc_info=exc)
            if response_started:  # half a response is out: only closing the connection ends it
                raise
            await _internal_error_response()(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.NumcheckError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(SQLAlchemyTimeoutError, _database_error)
