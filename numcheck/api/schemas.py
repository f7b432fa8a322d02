"""The API's bodies as Pydantic models: what requests carry (strict where an operator changes an
account) and what responses answer, for validation and the OpenAPI document. Built from domain
objects by their `of` class methods; no ORM row is ever returned as it is."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from numcheck.accounts.credits import MAX_CREDITS
from numcheck.accounts.users import NAME_RULE
from numcheck.dispatch.sweeper import WorkerState
from numcheck.registries.loading import LoadReport
from numcheck.services.accounts import UserAccount
from numcheck.services.lookup import Answer
from numcheck.storage.models import ApiKey, AuditEntry, Registry, RegistryVersion, Task, User
from numcheck.tasks import status
from numcheck.tasks.status import rfc3339

# Timestamps are RFC 3339 text made by `rfc3339` (UTC, Z, milliseconds): `date-time` to a client.
Timestamp = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "format": "date-time", "description": "RFC 3339, UTC, Z, milliseconds."}
    ),
]
# The closed sets of states.py, as the wire shows them (tests/api/test_openapi.py checks that
# they agree).
TaskState = Literal["pending", "processing", "exported", "failed", "cancelled", "expired"]
Role = Literal["user", "admin"]
LoadMode = Literal["replace", "add", "remove"]


def _when(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment else None


# -- errors ----------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine word, e.g. `unknown_task_type`.")
    message: str = Field(description="A sentence for a person.")
    request_id: str | None = Field(
        None, description="The request's X-Request-ID (the caller's, or generated): quote it."
    )


# -- tasks -----------------------------------------------------------------------------------


class TaskCreated(BaseModel):
    task_id: str = Field(description="An xid: 20 characters of lowercase base32hex.")
    status: TaskState
    total: int = Field(description="Non-blank lines in the file.")
    message: str
    created_at: Timestamp

    @classmethod
    def of(cls, task: Task) -> TaskCreated:
        return cls(
            task_id=task.id,
            status=task.status,
            total=task.total,
            message="Task created successfully",
            created_at=rfc3339(task.created_at),
        )


class ContractStatus(BaseModel):
    """`POST /v1/gettasks`: exactly the hosted contract's keys (strict clients refuse others)."""

    model_config = ConfigDict(extra="forbid")

    created_at: Timestamp
    updated_at: Timestamp
    task_id: str
    user_id: str
    status: TaskState
    total: int
    success: int
    failure: int
    message: str | None = Field(
        None, description="Only on failed, cancelled and expired: why the task ended so."
    )
    result_url: str | None = Field(
        None, description="Signed link to the result zip (exported tasks), valid for a while."
    )

    @classmethod
    def of(cls, task: Task, result_url: str | None) -> ContractStatus:
        return cls(**status.contract_body(task), result_url=result_url)


class TaskStatus(ContractStatus):
    """numcheck's own routes: the contract's status plus the check the task runs and how its
    results are written."""

    task_type: str
    result_format: Literal["csv", "xlsx", "jsonl"] = "csv"
    include_failed: bool = False

    @classmethod
    def of(cls, task: Task, result_url: str | None) -> TaskStatus:
        return cls(
            **status.status_body(task),
            result_url=result_url,
            result_format=task.result_format.value,
            include_failed=task.include_failed,
        )


class TaskOutcome(BaseModel):
    """A task's answers tallied: per column, its most common values and their counts."""

    task_id: str
    status: str = Field(description="pending, processing, exported, failed, cancelled or expired.")
    total: int
    success: int
    failure: int
    tallies: dict[str, dict[str, int]] = Field(
        description="Per tallied column (`valid`, `type`, `region`, `reason`, each registry's; "
        '`failure`: failed lines\' reasons), the most common values (blank as "") and their '
        "counts, the rest summed as `other`."
    )


class TaskPreview(BaseModel):
    columns: list[str]
    rows: list[list[str]]


class TaskPage(BaseModel):
    tasks: list[TaskStatus]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class CheckInfo(BaseModel):
    name: str
    description: str
    columns: list[str] = Field(description="Columns of results.csv, `Number` first.")
    combinable: bool = Field(
        True,
        description="May be named with others in one task_type, separated by commas "
        "(`validate,htx`): every line is checked by each, results.csv has `Number` and then "
        "each check's columns in that order, and a line costs a credit per check.",
    )


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="`degraded`: serving, with a feature impaired (see the other fields)."
    )
    database: Literal["ok"]
    rate_limiter: Literal["ok", "degraded"] = Field(
        description="`degraded`: its Redis is unreachable and requests are not rate-limited."
    )


DependencyState = Literal["ok", "failed", "none"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"] = Field(
        description="`not_ready` (with 503): a dependency named below does not answer, or the "
        "workers are not up."
    )
    database: DependencyState
    broker: DependencyState = Field(description="`none`: no broker configured (embedded).")
    blob_store: DependencyState
    workers: WorkerState = Field(
        description="The embedded pool's worker processes: `starting` for about a second "
        "after the server starts (or replaces a pool whose worker died), `failed` when one "
        "could not start; `none` in scale-out, where `numcheck worker` processes run the jobs."
    )


class LookupRequest(BaseModel):
    """A real-time lookup: numbers checked in the request, with a task's checks and credits."""

    numbers: list[str] = Field(
        description="The lines to check, as a file's lines would be (at most 1,000: 413 above).",
        json_schema_extra={"maxItems": 1000, "minItems": 1},
    )
    task_type: str = Field(
        min_length=1, description="`validate`, a registry's name, or several separated by commas."
    )
    default_region: str | None = Field(
        None, description="ISO 3166-1 alpha-2: national-format numbers are read as its."
    )


class LookupResult(BaseModel):
    """One number's answer: the fields of its results.csv row (`Number`, `valid`, …, a
    registry's name), or `failure` with the reason failed.csv would give."""

    model_config = ConfigDict(extra="allow")

    input: str = Field(description="The line as sent.")
    failure: str | None = Field(None, description="Why it is not a phone number.")

    @classmethod
    def of(cls, answer: Answer) -> LookupResult:
        if answer.failure is not None:
            return cls(input=answer.input, failure=answer.failure)
        return cls(input=answer.input, **(answer.fields or {}))


class LookupAnswer(BaseModel):
    results: list[LookupResult] = Field(description="One per number, in the order sent.")


# -- accounts --------------------------------------------------------------------------------


class Credits(BaseModel):
    unlimited: bool
    balance: int = Field(description="Available credits (0 for unlimited users).")
    reserved: int = Field(description="Held for pending and processing tasks.")
    charged_this_month: int


class UserInfo(BaseModel):
    user_id: str
    name: str
    role: Role
    created_at: Timestamp
    credits: Credits

    @classmethod
    def of(cls, account: UserAccount) -> UserInfo:
        return cls(**_user_fields(account))


def _user_fields(account: UserAccount) -> dict[str, Any]:
    user: User = account.user
    return {
        "user_id": user.id,
        "name": user.name,
        "role": account.role,
        "created_at": rfc3339(user.created_at),
        "credits": Credits(
            unlimited=account.credits.unlimited,
            balance=account.credits.balance,
            reserved=account.credits.reserved,
            charged_this_month=account.credits.charged_this_month,
        ),
    }


class AccountLimits(BaseModel):
    rate_limit_per_second: float
    rate_limit_burst: int
    max_active_tasks: int
    max_upload_bytes: int
    max_lines: int


class AccountInfo(UserInfo):
    limits: AccountLimits
    webhook_secret: str = Field(description="Verifies X-Numcheck-Signature of your webhooks.")

    @classmethod
    def of_account(
        cls, account: UserAccount, limits: AccountLimits, webhook_secret: str
    ) -> AccountInfo:
        return cls(**_user_fields(account), limits=limits, webhook_secret=webhook_secret)


# Admin bodies are strict: `true`, `"77"` or `"1_000"` are not credits, `"true"` or `1` not a
# role. Booleans are JSON booleans, integers JSON integers (a number with no fraction, `7.0` too,
# as JSON Schema counts it).
_STRICT = ConfigDict(strict=True, extra="forbid")


def _whole(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# The bounds before the validator: they then apply to (and appear in the schema of) the integer.
CreditAmount = Annotated[int, Ge(0), Le(MAX_CREDITS), BeforeValidator(_whole)]
PositiveCredits = Annotated[int, Gt(0), Le(MAX_CREDITS), BeforeValidator(_whole)]


class NewUser(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=64, description=f"{NAME_RULE}.")
    admin: bool = False


class NewKey(BaseModel):
    prefix: str
    key: str = Field(description="Shown once: only its SHA-256 is stored.")


class KeyInfo(BaseModel):
    prefix: str
    user: str
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None

    @classmethod
    def of(cls, key: ApiKey, owner: User) -> KeyInfo:
        return cls(
            prefix=key.prefix,
            user=owner.name,
            created_at=rfc3339(key.created_at),
            last_used_at=_when(key.last_used_at),
            revoked_at=_when(key.revoked_at),
        )


class CreditGrant(BaseModel):
    model_config = _STRICT

    amount: PositiveCredits


class CreditSetting(BaseModel):
    model_config = _STRICT

    credits: CreditAmount | Literal["unlimited"] = Field(
        description="A whole number, or `unlimited`."
    )

    @property
    def amount(self) -> int | None:
        """The balance to set; None for unlimited."""
        return None if self.credits == "unlimited" else int(self.credits)


class AuditInfo(BaseModel):
    at: Timestamp
    actor: str
    action: str
    target: str
    details: dict[str, object]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditInfo:
        return cls(
            at=rfc3339(entry.created_at),
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            details=json.loads(entry.details) if entry.details else {},
        )


# -- registries ------------------------------------------------------------------------------


class InvalidLines(BaseModel):
    count: int
    first_lines: list[int] = Field(description="Line numbers (never contents) of the first 20.")


class LoadResult(BaseModel):
    name: str
    version: int
    mode: LoadMode
    entries: int = Field(description="Numbers in the new version.")
    numbers: int = Field(description="Valid numbers read from the file, duplicates included.")
    duplicates: int
    invalid: InvalidLines
    source_sha256: str

    @classmethod
    def of(cls, report: LoadReport) -> LoadResult:
        return cls(
            name=report.name,
            version=report.version,
            mode=report.mode,
            entries=report.entries,
            numbers=report.numbers,
            duplicates=report.duplicates,
            invalid=InvalidLines(count=report.invalid, first_lines=report.invalid_lines),
            source_sha256=report.source_sha256,
        )


class RegistryInfo(BaseModel):
    name: str
    version: int | None
    entries: int | None
    updated_at: Timestamp | None
    source_sha256: str | None
    granted_users: int

    @classmethod
    def of(cls, registry: Registry, version: RegistryVersion | None, granted: int) -> RegistryInfo:
        return cls(
            name=registry.name,
            version=version.version if version else None,
            entries=version.entries if version else None,
            updated_at=_when(version.created_at) if version else None,
            source_sha256=version.source_sha256 if version else None,
            granted_users=granted,
        )


# -- OpenAPI descriptions of the bodies that routes stream themselves ---------------------------


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
        "file": {
            "type": "string",
            "format": "binary",
            "description": "One number a line; a CSV/TSV file (any of , ; tab |); or an XLSX "
            "workbook; gzip-compressed text too.",
        },
        "task_type": {
            "type": "string",
            "minLength": 1,
            "description": "`validate`, a registry's name, or several separated by commas.",
        },
        "default_region": {"type": "string", "description": "ISO 3166-1 alpha-2, e.g. US."},
        "column": {"type": "string", "description": "CSV/XLSX: the numbers' column."},
        "id_column": {"type": "string", "description": "CSV/XLSX: passed through to results."},
        "delimiter": {
            "type": "string",
            "enum": [",", ";", "\t", "|", "comma", "semicolon", "tab", "pipe"],
            "description": "CSV: the delimiter (default: found from the first rows).",
        },
        "sheet": {"type": "string", "description": "XLSX: the sheet (default: the first)."},
        "result_format": {"type": "string", "enum": ["csv", "xlsx", "jsonl"], "default": "csv"},
        "include_failed": {
            "type": "boolean",
            "default": False,
            "description": "One results file with a row for every line, failures included.",
        },
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
                    "properties": {"task_id": {"type": "string", "minLength": 1}},
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
