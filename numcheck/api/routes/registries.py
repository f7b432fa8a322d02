"""Admin routes for registries: load a version, list, delete."""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from numcheck import errors
from numcheck.api import multipart
from numcheck.api.deps import AdminUser, RuntimeDep, SessionDep
from numcheck.api.runtime import Runtime
from numcheck.api.schemas import (
    ERROR_RESPONSES,
    REGISTRY_FORM,
    ErrorBody,
    LoadResult,
    RegistryInfo,
)
from numcheck.registries import loading
from numcheck.services import registries as registry_service
from numcheck.storage.models import User

router = APIRouter(prefix="/v1/registries", tags=["registries (admin)"], responses=ERROR_RESPONSES)

RegistryName = Annotated[str, Path(max_length=32)]


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
    registry_service.check_name(name)  # before a byte of the file is read
    with runtime.upload_slots.hold(request.state.key_prefix):
        return LoadResult.of(await _receive_load(name, request, runtime, admin))


async def _receive_load(
    name: str, request: Request, runtime: Runtime, admin: User
) -> loading.LoadReport:
    load: loading.RegistryLoad | None = None

    def open_load(fields: dict[str, str], filename: str) -> loading.RegistryLoad:
        nonlocal load
        load = registry_service.start_load(
            runtime.stores,
            name,
            filename=filename,
            column=fields.get("column"),
            default_region=fields.get("default_region"),
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
        return await run_in_threadpool(
            functools.partial(
                registry_service.publish,
                runtime.stores,
                name,
                fields.get("mode", "replace"),
                load,
                actor=admin.name,
            )
        )
    finally:
        if load is not None:
            load.discard()


@router.get("", response_model=list[RegistryInfo], summary="Registries and their current versions")
def list_registries(session: SessionDep, admin: AdminUser) -> list[RegistryInfo]:
    return [RegistryInfo.of(*row) for row in registry_service.listing(session)]


@router.delete("/{name}", status_code=204, summary="Delete a registry")
def delete_registry(name: RegistryName, runtime: RuntimeDep, admin: AdminUser) -> None:
    """Its grants go at once; its versions once no running task answers from them."""
    registry_service.delete(runtime.stores, name, actor=admin.name)
