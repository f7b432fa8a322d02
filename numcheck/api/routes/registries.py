"""Admin routes for registries: load a version, list, delete."""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from numcheck import checks, errors
from numcheck.accounts import audit
from numcheck.api import multipart
from numcheck.api.deps import AdminUser, RuntimeDep, SessionDep
from numcheck.api.runtime import Runtime
from numcheck.api.schemas import ERROR_RESPONSES, REGISTRY_FORM, ErrorBody
from numcheck.registries import loading
from numcheck.registries import records as registry_records
from numcheck.storage.models import User
from numcheck.tasks import records as task_records

router = APIRouter(prefix="/v1/registries", tags=["registries (admin)"], responses=ERROR_RESPONSES)

RegistryName = Annotated[str, Path(max_length=32)]


class InvalidLines(BaseModel):
    count: int
    first_lines: list[int] = Field(description="Line numbers (never contents) of the first 20.")


class LoadResult(BaseModel):
    name: str
    version: int
    mode: str
    entries: int = Field(description="Numbers in the new version.")
    numbers: int = Field(description="Valid numbers read from the file, duplicates included.")
    duplicates: int
    invalid: InvalidLines
    source_sha256: str


class RegistryInfo(BaseModel):
    name: str
    version: int | None
    entries: int | None
    updated_at: str | None
    source_sha256: str | None
    granted_users: int


@router.post(
    "/{name}",
    response_model=LoadResult,
    summary="Load a new version of a registry",
    openapi_extra=REGISTRY_FORM,
    responses={413: {"model": ErrorBody}},
)
async def load_registry(
    name: RegistryName, request: Request, runtime: RuntimeDep, admin: AdminUser
) -> LoadResult:
    """multipart: `file` (one number a line, or CSV with a header), `mode` = replace (default),
    add or remove. `column` (CSV) and `default_region` must come before the file."""
    registry_records.check_name(name, set(checks.BUILTIN_CHECKS))
    with runtime.upload_slots.hold(request.state.key_prefix):
        report = await _receive_load(name, request, runtime, admin)
    return LoadResult(
        name=report.name,
        version=report.version,
        mode=report.mode,
        entries=report.entries,
        numbers=report.numbers,
        duplicates=report.duplicates,
        invalid=InvalidLines(count=report.invalid, first_lines=report.invalid_lines),
        source_sha256=report.source_sha256,
    )


async def _receive_load(
    name: str, request: Request, runtime: Runtime, admin: User
) -> loading.LoadReport:
    load: loading.RegistryLoad | None = None

    def open_load(fields: dict[str, str], _filename: str) -> loading.RegistryLoad:
        nonlocal load
        load = loading.start(
            runtime.stores.settings,
            column=fields.get("column") or None,
            default_region=(fields.get("default_region") or "").upper() or None,
        )
        return load

    try:
        fields, _ = await multipart.stream_form(
            request,
            file_field="file",
            open_sink=open_load,
            before_file=("column", "default_region"),
        )
        if load is None:
            raise errors.InvalidRequest("Missing field file: attach the registry's numbers.")
        report = await run_in_threadpool(
            functools.partial(
                loading.publish,
                runtime.stores,
                name,
                fields.get("mode", "replace"),
                load,
                record=audit.registry_loaded(admin.name),
            )
        )
    finally:
        if load is not None:
            load.discard()
    return report


@router.get("", response_model=list[RegistryInfo], summary="Registries and their current versions")
def list_registries(session: SessionDep, admin: AdminUser) -> list[RegistryInfo]:
    rows = registry_records.listing(session)
    session.commit()
    return [
        RegistryInfo(
            name=registry.name,
            version=version.version if version else None,
            entries=version.entries if version else None,
            updated_at=task_records.rfc3339(version.created_at) if version else None,
            source_sha256=version.source_sha256 if version else None,
            granted_users=granted,
        )
        for registry, version, granted in rows
    ]


@router.delete("/{name}", status_code=204, summary="Delete a registry")
def delete_registry(
    name: RegistryName, runtime: RuntimeDep, session: SessionDep, admin: AdminUser
) -> None:
    """Its grants go at once; its versions once no running task answers from them."""
    registry_records.delete(session, name)
    audit.record(session, admin.name, "registry.deleted", name)
    session.commit()
    registry_records.collect_unused(runtime.stores)
