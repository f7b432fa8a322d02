"""Task routes: create, status, list, cancel (docs/api.md); a task's results are task_results.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from numcheck import errors, states
from numcheck.accounts import idempotency
from numcheck.api import links, multipart
from numcheck.api.deps import (
    ApiKey,
    CurrentUser,
    ReadSessionDep,
    RuntimeDep,
    SessionDep,
    authenticated_read,
)
from numcheck.api.runtime import Runtime
from numcheck.api.schemas import (
    ERROR_RESPONSES,
    TASK_FORM,
    TASK_ID_BODY,
    ContractStatus,
    ErrorBody,
    TaskCreated,
    TaskPage,
    TaskStatus,
)
from numcheck.states import ResultFormat
from numcheck.storage import db
from numcheck.storage.models import User
from numcheck.tasks import intake, queries, receiving

router = APIRouter(prefix="/v1", tags=["tasks"], responses=ERROR_RESPONSES)

_TASK_ID_FIELD_BYTES = 4096

StatusT = TypeVar("StatusT")


def _limits(runtime: Runtime) -> intake.Limits:
    return intake.Limits.from_settings(runtime.stores.settings)


CREATE_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody} for status in (402, 409, 413, 422)
}


class _FileFingerprint:
    """A sink that only hashes the file: a replayed request's body is compared, not stored."""

    def __init__(self, max_bytes: int) -> None:
        self.sha256 = hashlib.sha256()
        self._left = max_bytes

    def feed(self, data: bytes) -> None:
        self._left -= len(data)
        if self._left < 0:
            raise errors.FileTooLarge()
        self.sha256.update(data)


def _request_fingerprint(fields: dict[str, str], file_sha256: str) -> str:
    names = (
        "task_type",
        "default_region",
        "column",
        "id_column",
        "delimiter",
        "sheet",
        "result_format",
        "include_failed",
        "callback_url",
    )
    return idempotency.fingerprint({name: fields.get(name) for name in names}, file_sha256)


@router.post(
    "/tasks",
    response_model=TaskCreated,
    responses=CREATE_RESPONSES,
    summary="Create a task from a file",
    openapi_extra=TASK_FORM,
)
async def create_task(
    request: Request,
    runtime: RuntimeDep,
    user: CurrentUser,
    idempotency_key: Annotated[
        str | None,
        Header(description="Replays the first response for 24 h instead of creating again."),
    ] = None,
) -> TaskCreated | JSONResponse:
    """multipart/form-data: `file` (one number a line) and `task_type`; optional
    `default_region`. The file is streamed to storage and checked against the limits as it
    arrives; the task's credits are reserved when it is created."""
    with runtime.upload_slots.hold(request.state.key_prefix):
        return await _receive_task(request, runtime, user, idempotency_key)


async def _receive_task(
    request: Request,
    runtime: Runtime,
    user: User,
    idempotency_key: str | None,
) -> TaskCreated | JSONResponse:
    stores = runtime.stores
    if idempotency_key is not None:
        idempotency_key = idempotency.check_key(idempotency_key)
        replay = await run_in_threadpool(idempotency.begin, stores, user.id, idempotency_key)
        if replay is not None:
            return await _replay(request, runtime, replay)

    receiver: receiving.UploadReceiver | None = None
    upload: intake.PendingUpload | None = None

    def open_receiver(fields: dict[str, str], filename: str) -> receiving.UploadReceiver:
        nonlocal receiver
        receiver = receiving.UploadReceiver(
            stores.blobs, _limits(runtime), stores.settings.spool_dir, fields, filename
        )
        return receiver

    try:
        fields, _ = await multipart.stream_form(request, file_field="file", open_sink=open_receiver)
        if receiver is None:
            raise errors.InvalidRequest("Missing field file: attach the file of numbers.")
        choices = TaskChoices.of(fields)
        upload = await run_in_threadpool(receiver.finish, fields)
        created = await run_in_threadpool(
            _create, runtime, user, upload, fields, choices, idempotency_key
        )
    except BaseException:
        if upload is not None:
            await run_in_threadpool(upload.discard)
        if idempotency_key is not None:
            await run_in_threadpool(idempotency.abandon, stores, user.id, idempotency_key)
        raise
    finally:
        if receiver is not None:
            await run_in_threadpool(receiver.close)
    request.state.task_id = created.task_id
    return created


async def _replay(request: Request, runtime: Runtime, replay: idempotency.Replay) -> JSONResponse:
    sink = _FileFingerprint(runtime.stores.settings.max_upload_bytes)
    fields, _ = await multipart.stream_form(request, file_field="file", open_sink=lambda *_: sink)
    if _request_fingerprint(fields, sink.sha256.hexdigest()) != replay.fingerprint:
        raise errors.IdempotencyMismatch()
    body = json.loads(replay.response)
    request.state.task_id = body["task_id"]
    return JSONResponse(body, headers={"Idempotent-Replayed": "true"})


@dataclass(frozen=True)
class TaskChoices:
    """The form's fields about the results (the ones about reading the file are the
    receiver's), checked before the file is read."""

    result_format: ResultFormat
    include_failed: bool

    @classmethod
    def of(cls, fields: dict[str, str]) -> TaskChoices:
        return cls(
            ResultFormat.parse(fields.get("result_format")),
            _flag(fields.get("include_failed"), "include_failed"),
        )


def _flag(value: str | None, name: str) -> bool:
    text = (value or "false").strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise errors.InvalidRequest(f"{name} must be true or false.")


def _create(
    runtime: Runtime,
    user: User,
    upload: intake.PendingUpload,
    fields: dict[str, str],
    choices: TaskChoices,
    idempotency_key: str | None,
) -> TaskCreated:
    """The task, its chunks, its reservation and the idempotent answer, in one transaction of
    its own (it ends, and SQLite's write lock with it, before any clean-up after an error)."""
    settings = runtime.stores.settings
    with runtime.stores.sessions.begin() as session:
        task = intake.create(
            session,
            user,
            upload,
            fields.get("task_type"),
            fields.get("default_region"),
            max_active_tasks=settings.max_active_tasks,
            id_column=fields.get("id_column") or None,
            callback_url=fields.get("callback_url") or None,
            allow_private_callbacks=settings.webhook_allow_private,
            result_format=choices.result_format,
            include_failed=choices.include_failed,
        )
        created = TaskCreated.of(task)
        if idempotency_key is not None:
            idempotency.complete(
                session,
                user.id,
                idempotency_key,
                _request_fingerprint(fields, upload.sha256.hexdigest()),
                created.model_dump_json(),
            )
        db.after_commit(session, runtime.sweeper.wake)  # new work: sweep now, not in a second
    return created


async def _read_task_id(request: Request) -> str:
    """task_id from a multipart or urlencoded form, or a JSON body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = b""
    async for piece in request.stream():
        body += piece
        if len(body) > _TASK_ID_FIELD_BYTES:
            raise errors.InvalidRequest("The request body is too large for a status call.")
    value: object = None
    if content_type == "application/json":
        try:
            document = json.loads(body or b"null")
        except ValueError:
            raise errors.InvalidRequest("The body is not valid JSON.") from None
        value = document.get("task_id") if isinstance(document, dict) else None
    elif content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        # Re-read the small, already-received body through Starlette's form parser.
        async def replay() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        form = await Request(request.scope, replay).form()
        value = form.get("task_id")
    else:
        raise errors.InvalidRequest(
            "Send task_id as multipart/form-data, application/x-www-form-urlencoded or JSON."
        )
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidRequest("Missing field task_id.")
    return value.strip()


@router.post(
    "/gettasks",
    response_model=ContractStatus,
    response_model_exclude_none=True,
    summary="Status of a task (the hosted contract)",
    openapi_extra=TASK_ID_BODY,
)
async def get_task_status(
    request: Request, runtime: RuntimeDep, x_api_key: ApiKey = None
) -> ContractStatus:
    """`task_id` as a multipart or urlencoded form field, or as JSON `{"task_id": "..."}`.
    Answers exactly the hosted contract's keys; `GET /v1/tasks/{task_id}` adds numcheck's."""
    # The body is read first (it is small, and in the event loop), the key checked next with
    # the task's read, in one call; a body's error is answered only once the key passed, as
    # when the key was a dependency resolved before the body.
    body_error: errors.NumcheckError | None = None
    try:
        task_id = await _read_task_id(request)
    except errors.NumcheckError as error:
        body_error, task_id = error, ""

    def read(session: Session, user: User) -> ContractStatus:
        if body_error is not None:
            raise body_error
        task = queries.get_owned(session, user.id, task_id)
        request.state.task_id = task.id
        return ContractStatus.of(task, links.result_url(request, runtime, task))

    return await _status_read(request, runtime, x_api_key, read)


async def _status_read(
    request: Request,
    runtime: Runtime,
    x_api_key: str | None,
    read: Callable[[Session, User], StatusT],
) -> StatusT:
    """A status call's key check and read, in a thread of the status calls' own small share
    (settings.status_read_threads): polled at hundreds of calls a second, these short reads
    cost less CPU queued for one thread than run side by side in many, which contend for the
    GIL; and a busy thread pool (uploads, registry loads) does not hold them up."""
    return await anyio.to_thread.run_sync(
        authenticated_read, request, runtime, x_api_key, read, limiter=runtime.status_reads
    )


@router.get(
    "/tasks/{task_id}",
    response_model=TaskStatus,
    response_model_exclude_none=True,
    summary="Status of a task",
)
async def get_task(
    task_id: str, request: Request, runtime: RuntimeDep, x_api_key: ApiKey = None
) -> TaskStatus:
    # async, with the key check and the read in one call to the thread pool: a sync route with
    # sync dependencies costs four (the key, the session's start and end, the route).
    def read(session: Session, user: User) -> TaskStatus:
        task = queries.get_owned(session, user.id, task_id)
        request.state.task_id = task.id
        return TaskStatus.of(task, links.result_url(request, runtime, task))

    return await _status_read(request, runtime, x_api_key, read)


# `status=` of the list: one status or several, comma-separated (in the schema, so that a
# client generated from it, or schemathesis, knows which values are accepted).
_ONE_STATUS = "|".join(state.value for state in states.TaskStatus)
_STATUS_LIST = f"^({_ONE_STATUS})(,({_ONE_STATUS}))*$"


@router.get("/tasks", response_model=TaskPage, summary="Your tasks, newest first")
def list_tasks(
    request: Request,
    runtime: RuntimeDep,
    session: ReadSessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=_STATUS_LIST,
            description="Only tasks in this status (several: comma-separated).",
        ),
    ] = None,
    task_type: Annotated[
        str | None,
        Query(max_length=300, description="Only tasks of this check (or list of checks)."),
    ] = None,
) -> TaskPage:
    tasks, next_cursor = queries.list_owned(
        session,
        user.id,
        limit=limit,
        cursor=cursor,
        statuses=queries.parse_statuses(status),
        task_type=task_type,
    )
    return TaskPage(
        tasks=[TaskStatus.of(task, links.result_url(request, runtime, task)) for task in tasks],
        next_cursor=next_cursor,
    )


@router.delete(
    "/tasks/{task_id}",
    response_model=TaskStatus,
    response_model_exclude_none=True,
    summary="Cancel or delete a task",
)
def cancel_task(
    task_id: str, request: Request, runtime: RuntimeDep, session: SessionDep, user: CurrentUser
) -> TaskStatus:
    """Cancels a pending or processing task; for a finished one, deletes its files."""
    task = queries.get_owned(session, user.id, task_id, for_update=True)
    runtime.lifecycle.stop(session, task, by="its owner")
    request.state.task_id = task.id
    return TaskStatus.of(task, links.result_url(request, runtime, task))
