"""Health, the caller's account and the caller's checks."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text

from numcheck.api import readiness
from numcheck.api.deps import CurrentUser, ReadSessionDep, RuntimeDep, SessionDep
from numcheck.api.headers import PRIVATE
from numcheck.api.schemas import (
    ERROR_RESPONSES,
    AccountInfo,
    AccountLimits,
    CheckInfo,
    Health,
    Readiness,
)
from numcheck.services import accounts
from numcheck.tasks import catalog, webhooks

router = APIRouter()


@router.get("/healthz", response_model=Health, tags=["meta"], summary="Liveness and database")
def healthz(runtime: RuntimeDep, session: ReadSessionDep) -> Health:
    """200 while the server serves; `degraded` names a feature that is impaired meanwhile."""
    session.execute(text("SELECT 1"))
    limiter_degraded = runtime.rate_limiter.degraded
    return Health(
        status="degraded" if limiter_degraded else "ok",
        database="ok",
        rate_limiter="degraded" if limiter_degraded else "ok",
    )


@router.get(
    "/readyz",
    response_model=Readiness,
    tags=["meta"],
    summary="Readiness: database, broker, blob store and workers",
    responses={
        503: {
            "model": Readiness,
            "description": "A dependency does not answer, or the workers are not up.",
        }
    },
)
def readyz(runtime: RuntimeDep, response: Response) -> Readiness:
    """200 when every dependency answers and the workers are up; 503 names what is not."""
    answers = readiness.check(runtime.stores, runtime.sweeper.workers())
    ready = all(state in ("ok", "none") for state in answers.values())
    if not ready:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return Readiness.model_validate({"status": "ready" if ready else "not_ready", **answers})


@router.get(
    "/v1/account",
    response_model=AccountInfo,
    tags=["account"],
    responses=ERROR_RESPONSES,
    summary="Your credits and limits",
)
def account(
    runtime: RuntimeDep, session: SessionDep, user: CurrentUser, response: Response
) -> AccountInfo:
    """Carries the webhook secret: never stored by a cache."""
    response.headers.update(PRIVATE)
    s = runtime.stores.settings
    return AccountInfo.of_account(
        accounts.describe(session, user),
        AccountLimits(
            rate_limit_per_second=s.rate_limit_per_second,
            rate_limit_burst=s.rate_limit_burst,
            max_active_tasks=s.max_active_tasks,
            max_upload_bytes=s.max_upload_bytes,
            max_lines=s.max_lines,
        ),
        webhooks.webhook_secret(session, user.id),
    )


@router.get(
    "/v1/checks",
    response_model=list[CheckInfo],
    tags=["checks"],
    responses=ERROR_RESPONSES,
    summary="The checks you may use as task_type",
)
def list_checks(session: SessionDep, user: CurrentUser) -> list[CheckInfo]:
    """Each may be a task_type alone, or several together: `validate,htx`."""
    mine = catalog.available(session, user)
    return [
        CheckInfo(name=c.name, description=c.description, columns=["Number", *c.columns])
        for c in sorted(mine.values(), key=lambda c: c.name)
    ]
