"""The signed result download: no API key, only a valid, unexpired link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from numcheck import errors
from numcheck.api import signing
from numcheck.api.deps import RuntimeDep, SessionDep
from numcheck.api.headers import PRIVATE
from numcheck.api.schemas import ErrorBody
from numcheck.states import TaskStatus
from numcheck.storage import blobs as blob_keys
from numcheck.storage.models import Task

router = APIRouter(tags=["results"])


@router.get(
    "/results/{task_id}.zip",
    response_class=FileResponse,
    responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
    summary="Download a result zip through a signed link",
)
def download_result(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    task_id: Annotated[str, Path(pattern=r"^[0-9a-v]{20}$")],
    expires: Annotated[str, Query(max_length=20)],
    signature: Annotated[str, Query(max_length=128)],
) -> Response:
    task = session.get(Task, task_id)
    if task is None:
        raise errors.InvalidSignature()  # a link to nothing is as invalid as a forged one
    signing.verify(runtime.link_secret, task.id, task.user_id, expires, signature)
    request.state.task_id = task.id
    key = blob_keys.result_key(task.id)
    # Only the key derived from the task row is ever opened: no caller-chosen path.
    if task.status != TaskStatus.EXPORTED or not runtime.stores.blobs.exists(key):
        raise errors.ResultUnavailable()
    settings = runtime.stores.settings
    elsewhere = runtime.stores.blobs.download_url(
        key, f"{task.id}.zip", settings.result_link_ttl_seconds
    )
    if elsewhere is not None:  # the store serves it (S3): send the client there
        return RedirectResponse(elsewhere, status_code=307, headers=PRIVATE)
    return FileResponse(
        runtime.stores.blobs.local_path(key),
        media_type="application/zip",
        filename=f"{task.id}.zip",
        content_disposition_type="attachment",
        headers=PRIVATE,
    )
