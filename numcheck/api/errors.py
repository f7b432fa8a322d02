"""The one place where exceptions become HTTP statuses and API.md's error body."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from numcheck import errors

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
    errors.Forbidden: 403,
    errors.InvalidSignature: 403,
    errors.TaskNotFound: 404,
    errors.ResultUnavailable: 404,
    errors.UserNotFound: 404,
    errors.KeyNotFound: 404,
    errors.RegistryNotFound: 404,
    errors.InsufficientCredits: 402,
    errors.CreditsUnlimited: 409,
    errors.IdempotencyInProgress: 409,
    errors.RegistryKeyMismatch: 409,
    errors.IdempotencyMismatch: 422,
    errors.RateLimited: 429,
    errors.FileTooLarge: 413,
    errors.TooManyLines: 413,
    errors.LineTooLong: 413,
}


def error_body(code: str, message: str, **details: object) -> dict[str, object]:
    return {"code": code, "message": message, **details}


def status_of(exc: errors.NumcheckError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.NumcheckError)
    headers = None
    if isinstance(exc, errors.RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
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


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return JSONResponse(
        error_body(codes.get(exc.status_code, "http_error"), str(exc.detail)),
        exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _internal_error(_: Request, exc: Exception) -> JSONResponse:
    log.error("internal error: %s", type(exc).__name__, exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "Internal error; nothing was charged. Retry later."), 500
    )


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    # A database restart or failover: the request's transaction was rolled back; say so and
    # when to come back, rather than a bare 500. (The driver's message may name the host.)
    log.error("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
    return JSONResponse(
        error_body(
            "service_unavailable",
            "The database is unreachable; nothing was charged. Retry in a few seconds.",
        ),
        503,
        headers={"Retry-After": "5"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.NumcheckError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(Exception, _internal_error)
