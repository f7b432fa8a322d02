"""The OpenAPI description as numcheck answers, not as FastAPI assumes.

FastAPI documents a 422 with its own validation body on every route with parameters; numcheck
answers a validation failure with 400 and the error body (`api/errors.py`), and keeps 422 for
an Idempotency-Key reused with another request. Any route may answer 503 (the database is
unreachable, or the connection cap is reached).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _fix(operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    validation = responses.get("422", {})
    if "HTTPValidationError" in str(validation):  # FastAPI's, not numcheck's own 422
        del responses["422"]
        responses.setdefault(
            "400", {"description": "Invalid request (`invalid_request`).", **_ERROR}
        )
    responses.setdefault(
        "503",
        {
            "description": "The database is unreachable or busy, or the server is at its "
            "connection cap (`service_unavailable`, with Retry-After).",
            **_ERROR,
        },
    )


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operations in schema["paths"].values():
                for operation in operations.values():
                    _fix(operation)
            for name in _VALIDATION_SCHEMAS:
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
