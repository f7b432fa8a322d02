"""Admin routes: users, keys, credits, any task, the audit log. A user's key gets 403."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from numcheck.accounts import audit, credits, keys, users
from numcheck.accounts.credits import MAX_CREDITS
from numcheck.api.deps import AdminUser, RuntimeDep, SessionDep
from numcheck.api.routes.tasks import status_response
from numcheck.api.schemas import ERROR_RESPONSES, TaskStatus
from numcheck.storage.models import Chunk, Task, User
from numcheck.tasks import records

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERROR_RESPONSES)

UserName = Annotated[str, Path(max_length=100)]


class Credits(BaseModel):
    unlimited: bool
    balance: int = Field(description="Available credits (0 for unlimited users).")
    reserved: int = Field(description="Held for pending and processing tasks.")
    charged_this_month: int


class UserInfo(BaseModel):
    user_id: str
    name: str
    role: str
    created_at: str
    credits: Credits


# Admin bodies are strict: `true`, `"77"` or `"1_000"` are not credits, `"true"` or `1` not a
# role. Booleans are JSON booleans, integers JSON integers.
_STRICT = ConfigDict(strict=True, extra="forbid")


class NewUser(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=64, description=f"{users.NAME_RULE}.")
    admin: bool = False


class NewKey(BaseModel):
    prefix: str
    key: str = Field(description="Shown once: only its SHA-256 is stored.")


class KeyInfo(BaseModel):
    prefix: str
    user: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class CreditGrant(BaseModel):
    model_config = _STRICT

    amount: int = Field(gt=0, le=MAX_CREDITS)


class CreditSetting(BaseModel):
    model_config = _STRICT

    credits: Annotated[int, Field(ge=0, le=MAX_CREDITS)] | Literal["unlimited"] = Field(
        description="A whole number, or `unlimited`."
    )


class AuditInfo(BaseModel):
    at: str
    actor: str
    action: str
    target: str
    details: dict[str, object]


def _when(moment) -> str | None:  # type: ignore[no-untyped-def]
    return records.rfc3339(moment) if moment else None


def user_info(session, user: User) -> UserInfo:  # type: ignore[no-untyped-def]
    account = credits.account(session, user.id)
    return UserInfo(
        user_id=user.id,
        name=user.name,
        role=users.role_of(user),
        created_at=records.rfc3339(user.created_at),
        credits=Credits(
            unlimited=account.unlimited,
            balance=account.balance,
            reserved=account.reserved,
            charged_this_month=account.charged_this_month,
        ),
    )


@router.get("/users", response_model=list[UserInfo], summary="Users and their credits")
def list_users(session: SessionDep, admin: AdminUser) -> list[UserInfo]:
    result = [user_info(session, u) for u in session.scalars(select(User).order_by(User.name))]
    session.commit()
    return result


@router.post("/users", response_model=UserInfo, summary="Create a user (or get an existing one)")
def create_user(
    body: NewUser, runtime: RuntimeDep, session: SessionDep, admin: AdminUser
) -> UserInfo:
    user = users.get_or_create(
        session,
        body.name,
        actor=admin.name,
        is_admin=body.admin,
        default_credits=runtime.stores.settings.default_credit_amount,
    )
    info = user_info(session, user)
    session.commit()
    return info


@router.post("/users/{name}/keys", response_model=NewKey, summary="Create an API key for a user")
def create_key(name: UserName, session: SessionDep, admin: AdminUser) -> NewKey:
    new_key = keys.create(session, users.get_by_name(session, name))
    audit.record(session, admin.name, "key.created", name, prefix=new_key.prefix)
    session.commit()
    return NewKey(prefix=new_key.prefix, key=new_key.plaintext)


@router.get("/keys", response_model=list[KeyInfo], summary="API keys (prefixes only)")
def list_keys(session: SessionDep, admin: AdminUser) -> list[KeyInfo]:
    result = [
        KeyInfo(
            prefix=key.prefix,
            user=owner.name,
            created_at=records.rfc3339(key.created_at),
            last_used_at=_when(key.last_used_at),
            revoked_at=_when(key.revoked_at),
        )
        for key, owner in keys.list_keys(session)
    ]
    session.commit()
    return result


@router.delete("/keys/{prefix}", status_code=204, summary="Revoke an API key")
def revoke_key(
    prefix: Annotated[str, Path(max_length=16)], session: SessionDep, admin: AdminUser
) -> None:
    keys.revoke(session, prefix)
    audit.record(session, admin.name, "key.revoked", prefix)
    session.commit()


@router.post("/users/{name}/credits/grant", response_model=UserInfo, summary="Add credits")
def grant_credits(
    name: UserName, body: CreditGrant, session: SessionDep, admin: AdminUser
) -> UserInfo:
    user = users.get_by_name(session, name)
    credits.grant(session, user, body.amount)
    audit.record(session, admin.name, "credits.granted", name, credits=body.amount)
    info = user_info(session, user)
    session.commit()
    return info


@router.put("/users/{name}/credits", response_model=UserInfo, summary="Set credits or unlimited")
def set_credits(
    name: UserName, body: CreditSetting, session: SessionDep, admin: AdminUser
) -> UserInfo:
    user = users.get_by_name(session, name)
    credits.set_balance(session, user, credits.parse_amount(str(body.credits)))
    audit.record(session, admin.name, "credits.set", name, credits=str(body.credits))
    info = user_info(session, user)
    session.commit()
    return info


@router.delete(
    "/tasks/{task_id}",
    response_model=TaskStatus,
    response_model_exclude_none=True,
    summary="Cancel any user's task",
)
def cancel_any_task(
    task_id: Annotated[str, Path(max_length=40)],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    admin: AdminUser,
) -> TaskStatus:
    task = records.get_any(session, task_id)
    records.stop(session, task, by="an administrator")
    audit.record(session, admin.name, "task.cancelled", task.id, owner=task.user_id)
    session.commit()
    records.release(runtime.stores, task.id, task.registry_version_id)
    request.state.task_id = task.id
    return status_response(request, runtime, task)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Counters in the Prometheus text format",
)
def metrics(runtime: RuntimeDep, session: SessionDep, admin: AdminUser) -> PlainTextResponse:
    """Tasks by status, lines checked, and lines the compiled validator left to phonenumbers."""
    by_status = dict(session.execute(select(Task.status, func.count()).group_by(Task.status)).all())
    lines, fallbacks = session.execute(
        select(
            func.coalesce(func.sum(Chunk.lines), 0), func.coalesce(func.sum(Chunk.fallbacks), 0)
        ).where(Chunk.status == "done")
    ).one()
    session.commit()
    out = [
        "# HELP numcheck_tasks Tasks by status.",
        "# TYPE numcheck_tasks gauge",
        *(
            f'numcheck_tasks{{status="{status}"}} {by_status.get(status, 0)}'
            for status in (*records.ACTIVE, *records.TERMINAL)
        ),
        "# HELP numcheck_lines_checked_total Non-blank lines of finished chunks.",
        "# TYPE numcheck_lines_checked_total counter",
        f"numcheck_lines_checked_total {lines}",
        "# HELP numcheck_validator_fallbacks_total Lines the compiled validator handed to phonenumbers.",
        "# TYPE numcheck_validator_fallbacks_total counter",
        f"numcheck_validator_fallbacks_total {fallbacks}",
        "# HELP numcheck_rate_limiter_failures_total Requests served unlimited: Redis failed.",
        "# TYPE numcheck_rate_limiter_failures_total counter",
        f"numcheck_rate_limiter_failures_total {runtime.rate_limiter.failures}",
    ]
    return PlainTextResponse("\n".join(out) + "\n", media_type="text/plain; version=0.0.4")


@router.get("/audit", response_model=list[AuditInfo], summary="The audit log, newest first")
def audit_log(
    session: SessionDep, admin: AdminUser, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditInfo]:
    result = [
        AuditInfo(
            at=records.rfc3339(entry.created_at),
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            details=json.loads(entry.details) if entry.details else {},
        )
        for entry in audit.recent(session, limit)
    ]
    session.commit()
    return result
