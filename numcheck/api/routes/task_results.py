"""A finished task's results beside the zip: the results file itself, the tallies of its
answers (also while it runs) and a preview of its first rows (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, BinaryIO

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from numcheck import errors
from numcheck.api.deps import CurrentUser, ReadSessionDep, RuntimeDep
from numcheck.api.headers import PRIVATE
from numcheck.api.schemas import ERROR_RESPONSES, ErrorBody, TaskOutcome, TaskPreview
from numcheck.states import TaskStatus
from numcheck.storage import blobs as blob_keys
from numcheck.storage.blobs import BlobStore
from numcheck.storage.models import Chunk, Task
from numcheck.tasks import queries, resultfile, tallies
from numcheck.tasks.resultfile import CONTENT_TYPES

router = APIRouter(prefix="/v1", tags=["tasks"], responses=ERROR_RESPONSES)

NOT_FINISHED: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorBody, "description": "`task_not_finished`: the task is still running."}
}
RESULTS_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The results file itself (CSV, XLSX or JSON Lines, as the task asked).",
        "content": {media_type.split(";")[0]: {} for media_type in CONTENT_TYPES.values()},
    },
    **NOT_FINISHED,
}


@router.get(
    "/tasks/{task_id}/results",
    response_class=StreamingResponse,
    responses=RESULTS_RESPONSES,
    summary="The results file of an exported task, without the zip",
)
def get_task_results(
    task_id: str, request: Request, runtime: RuntimeDep, session: ReadSessionDep, user: CurrentUser
) -> StreamingResponse:
    """Streams `results.csv` (or `.xlsx`, `.jsonl`) out of the task's result zip, for people
    and scripts that want one file; the zip stays the hosted contract's `result_url`."""
    task = queries.get_owned(session, user.id, task_id)
    request.state.task_id = task.id
    name, content = resultfile.first_entry(_open_result(runtime.stores.blobs, task))
    return StreamingResponse(
        content,
        media_type=CONTENT_TYPES[task.result_format],
        headers={
            **PRIVATE,
            "Content-Disposition": f'attachment; filename="{task.id}-{name}"',
        },
    )


def _open_result(blobs: BlobStore, task: Task) -> BinaryIO:
    """The task's result zip; 409 while it runs, 404 once it has none."""
    if task.status.is_active:
        raise errors.TaskNotFinished(
            f"The task is {task.status}: its results are ready once it is exported."
        )
    try:
        if task.status != TaskStatus.EXPORTED:
            raise FileNotFoundError
        return blobs.open(blob_keys.result_key(task.id))
    except FileNotFoundError:
        raise errors.ResultUnavailable(
            f"The task is {task.status}: it has no results to download."
        ) from None


@router.get(
    "/tasks/{task_id}/outcome",
    response_model=TaskOutcome,
    summary="Tallies of a task's answers (valid, types, regions, registries, failure reasons)",
)
def get_task_outcome(
    task_id: str, request: Request, session: ReadSessionDep, user: CurrentUser
) -> TaskOutcome:
    """Summed over the chunks done so far: they grow while the task runs. Each column shows
    its most common values; the rest add up to `other`."""
    task = queries.get_owned(session, user.id, task_id)
    request.state.task_id = task.id
    return TaskOutcome(
        task_id=task.id,
        status=task.status,
        total=task.total,
        success=task.success,
        failure=task.failure,
        tallies=tallies.top(_tallies(session, task.id)),
    )


def _tallies(session: Session, task_id: str) -> tallies.Tallies:
    return tallies.total(session.scalars(select(Chunk.tallies).where(Chunk.task_id == task_id)))


@router.get(
    "/tasks/{task_id}/preview",
    response_model=TaskPreview,
    responses=NOT_FINISHED,
    summary="The header and first rows of an exported task's results",
)
def get_task_preview(
    task_id: str,
    request: Request,
    runtime: RuntimeDep,
    session: ReadSessionDep,
    user: CurrentUser,
    rows: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TaskPreview:
    task = queries.get_owned(session, user.id, task_id)
    request.state.task_id = task.id
    with _open_result(runtime.stores.blobs, task) as zipped:
        found = resultfile.preview(zipped, task.result_format, rows)
    return TaskPreview(columns=found[0] if found else [], rows=found[1:])
