"""Health and the caller's checks."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from numcheck.api.deps import CurrentUser, SessionDep
from numcheck.api.schemas import ERROR_RESPONSES, CheckInfo, Health
from numcheck.tasks import catalog

router = APIRouter()


@router.get("/healthz", response_model=Health, tags=["meta"], summary="Liveness and database")
def healthz(session: SessionDep) -> Health:
    session.execute(text("SELECT 1"))
    session.commit()
    return Health(status="ok")


@router.get(
    "/v1/checks",
    response_model=list[CheckInfo],
    tags=["checks"],
    responses=ERROR_RESPONSES,
    summary="The checks you may use as task_type",
)
def list_checks(session: SessionDep, user: CurrentUser) -> list[CheckInfo]:
    mine = catalog.available(session, user)
    session.commit()
    return [
        CheckInfo(name=c.name, description=c.description, columns=["Number", *c.columns])
        for c in sorted(mine.values(), key=lambda c: c.name)
    ]
