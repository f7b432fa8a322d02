"""Real-time lookups: a few numbers answered in the request (sign-up and KYC forms)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from numcheck.api.deps import CurrentUser, RuntimeDep
from numcheck.api.schemas import (
    ERROR_RESPONSES,
    ErrorBody,
    LookupAnswer,
    LookupRequest,
    LookupResult,
)

router = APIRouter(prefix="/v1", tags=["lookup"], responses=ERROR_RESPONSES)


@router.post(
    "/lookup",
    response_model=LookupAnswer,
    response_model_exclude_none=True,
    responses={402: {"model": ErrorBody}, 413: {"model": ErrorBody}},
    summary="Check numbers now, in the request",
)
async def lookup(body: LookupRequest, runtime: RuntimeDep, user: CurrentUser) -> LookupAnswer:
    """Up to 1,000 numbers, checked with the checks `task_type` names, answered in order. Each
    answer has the fields of the number's results.csv row, or `failure`. A credit per answered
    number per check; failures are free."""
    answers = await run_in_threadpool(
        runtime.lookups.answer, user, body.numbers, body.task_type, body.default_region
    )
    return LookupAnswer(results=[LookupResult.of(answer) for answer in answers])
