"""Admin routes: users, keys, credits, any task, the audit log. A user's key gets 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from numcheck.accounts import audit, users
from numcheck.api import links
from numcheck.api.deps import AdminUser, RuntimeDep, SessionDep
from numcheck.api.schemas import (
    ERROR_RESPONSES,
    AuditInfo,
    CreditGrant,
    CreditSetting,
    KeyInfo,
    NewKey,
    NewUser,
    TaskStatus,
    UserInfo,
)
from numcheck.services import accounts
from numcheck.tasks import queries

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERROR_RESPONSES)

UserName = Annotated[str, Path(max_length=100)]


@router.get("/users", response_model=list[UserInfo], summary="Users and their credits")
def list_users(session: SessionDep, admin: AdminUser) -> list[UserInfo]:
    return [UserInfo.of(account) for account in accounts.list_users(session)]


@router.post("/users", response_model=UserInfo, summary="Create a user (or get an existing one)")
def create_user(
    body: NewUser, runtime: RuntimeDep, session: SessionDep, admin: AdminUser
) -> UserInfo:
    """An existing user keeps its credits; `admin: true` makes it an administrator."""
    user = accounts.create_user(
        session,
        body.name,
        actor=admin.name,
        admin=body.admin,
        default_credits=runtime.stores.settings.default_credit_amount,
    )
    return UserInfo.of(accounts.describe(session, user))


@router.post("/users/{name}/keys", response_model=NewKey, summary="Create an API key for a user")
def create_key(name: UserName, session: SessionDep, admin: AdminUser) -> NewKey:
    new_key = accounts.create_key(session, users.get_by_name(session, name), actor=admin.name)
    return NewKey(prefix=new_key.prefix, key=new_key.plaintext)


@router.get("/keys", response_model=list[KeyInfo], summary="API keys (prefixes only)")
def list_keys(session: SessionDep, admin: AdminUser) -> list[KeyInfo]:
    return [KeyInfo.of(key, owner) for key, owner in accounts.list_keys(session)]


@router.delete("/keys/{prefix}", status_code=204, summary="Revoke an API key")
def revoke_key(
    prefix: Annotated[str, Path(max_length=16)], session: SessionDep, admin: AdminUser
) -> None:
    accounts.revoke_key(session, prefix, actor=admin.name)


@router.post("/users/{name}/credits/grant", response_model=UserInfo, summary="Add credits")
def grant_credits(
    name: UserName, body: CreditGrant, session: SessionDep, admin: AdminUser
) -> UserInfo:
    return UserInfo.of(accounts.grant_credits(session, name, body.amount, actor=admin.name))


@router.put("/users/{name}/credits", response_model=UserInfo, summary="Set credits or unlimited")
def set_credits(
    name: UserName, body: CreditSetting, session: SessionDep, admin: AdminUser
) -> UserInfo:
    return UserInfo.of(accounts.set_credits(session, name, body.amount, actor=admin.name))


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
    task = queries.get_any(session, task_id)
    runtime.lifecycle.stop(session, task, by="an administrator")
    audit.record(session, admin.name, "task.cancelled", task.id, owner=task.user_id)
    request.state.task_id = task.id
    return TaskStatus.of(task, links.result_url(request, runtime, task))


@router.get(
    "/metrics",
    summary="The Prometheus scrape (as GET /metrics), with an admin key",
    # The text format on 200 only: errors stay JSON (a response_class would document them so).
    responses={200: {"description": "Prometheus text format.", "content": {"text/plain": {}}}},
)
def metrics_text(runtime: RuntimeDep, admin: AdminUser) -> Response:
    """Every metric of the README's "Operate" section, in the Prometheus text format."""
    return Response(generate_latest(runtime.metrics), media_type=CONTENT_TYPE_LATEST)


@router.get("/audit", response_model=list[AuditInfo], summary="The audit log, newest first")
def audit_log(
    session: SessionDep, admin: AdminUser, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditInfo]:
    return [AuditInfo.of(entry) for entry in audit.recent(session, limit)]
