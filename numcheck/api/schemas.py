"""Response bodies of the wire contract (API.md), for validation and the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine word, e.g. `unknown_task_type`.")
    message: str = Field(description="A sentence for a person.")


class TaskCreated(BaseModel):
    task_id: str = Field(description="20 characters of lowercase base32hex.")
    status: str
    total: int = Field(description="Non-blank lines in the file.")
    message: str
    created_at: str = Field(description="RFC 3339, UTC, with Z.")


class ContractStatus(BaseModel):
    """`POST /v1/gettasks`: exactly the hosted contract's keys (strict clients refuse others)."""

    model_config = ConfigDict(extra="forbid")

    created_at: str = Field(description="RFC 3339, UTC, Z, milliseconds.")
    updated_at: str = Field(description="RFC 3339, UTC, Z, milliseconds.")
    task_id: str
    user_id: str
    status: str = Field(description="pending, processing, exported, failed, cancelled or expired.")
    total: int
    success: int
    failure: int
    message: str | None = Field(
        None, description="Only on failed, cancelled and expired: why the task ended so."
    )
    result_url: str | None = Field(
        None, description="Signed link to the result zip (exported tasks), valid for a while."
    )


class TaskStatus(ContractStatus):
    """numcheck's own routes: the contract's status plus the check the task runs."""

    task_type: str


class TaskPage(BaseModel):
    tasks: list[TaskStatus]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class CheckInfo(BaseModel):
    name: str
    description: str
    columns: list[str] = Field(description="Columns of results.csv, `Number` first.")


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="`degraded`: serving, with a feature impaired (see the other fields)."
    )
    database: Literal["ok"]
    rate_limiter: Literal["ok", "degraded"] = Field(
        description="`degraded`: its Redis is unreachable and requests are not rate-limited."
    )


def multipart_body(
    properties: dict[str, dict[str, object]], required: list[str]
) -> dict[str, object]:
    """An OpenAPI requestBody for routes that stream their multipart body themselves."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": properties, "required": required}
                }
            },
        }
    }


TASK_FORM = multipart_body(
    {
        "file": {"type": "string", "format": "binary", "description": "One number a line."},
        "task_type": {"type": "string", "description": "`validate` or a registry's name."},
        "default_region": {"type": "string", "description": "ISO 3166-1 alpha-2, e.g. US."},
        "column": {"type": "string", "description": "CSV: the numbers' column (before file)."},
        "id_column": {"type": "string", "description": "CSV: passed through to results."},
        "callback_url": {"type": "string", "description": "POSTed the status at the end."},
    },
    ["file", "task_type"],
)
TASK_ID_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media: {
                "schema": {
                    "type": "object",
                    "properties": {"task_id": {"type": "string"}},
                    "required": ["task_id"],
                }
            }
            for media in (
                "multipart/form-data",
                "application/x-www-form-urlencoded",
                "application/json",
            )
        },
    }
}
REGISTRY_FORM = multipart_body(
    {
        "column": {
            "type": "string",
            "description": "CSV: the number column's header (before file).",
        },
        "default_region": {
            "type": "string",
            "description": "For national-format lines (before file).",
        },
        "file": {"type": "string", "format": "binary", "description": "Text or CSV file."},
        "mode": {"type": "string", "enum": ["replace", "add", "remove"]},
    },
    ["file"],
)

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 429, 500)
}
