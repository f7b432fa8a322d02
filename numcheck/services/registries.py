"""Registries as an operator manages them (admin API and CLI alike): load, delete, grant."""

from __future__ import annotations

from sqlalchemy.orm import Session

from numcheck import checks, csvinput
from numcheck.accounts import audit, users
from numcheck.registries import loading, versions
from numcheck.storage.models import Registry, RegistryVersion
from numcheck.storage.stores import Stores


def check_name(name: str) -> None:
    """Registry names are check names: InvalidRequest for a malformed one or a built-in's."""
    versions.check_name(name, set(checks.BUILTIN_CHECKS))


def start_load(
    stores: Stores,
    name: str,
    *,
    filename: str,
    column: str | None,
    default_region: str | None,
) -> loading.RegistryLoad:
    """A load of registry `name` to feed the file's bytes to (the name is checked first). A
    CSV file (named *.csv, or sent with a column) is read as task uploads are."""
    check_name(name)
    region = default_region.strip().upper() if default_region else None
    return loading.start(
        stores,
        name,
        csv_input=csvinput.for_file(filename, column=column, id_column=None, default_region=region),
        default_region=region,
    )


def publish(
    stores: Stores,
    name: str,
    mode: str,
    load: loading.RegistryLoad,
    *,
    actor: str,
    new_key: bool = False,
) -> loading.LoadReport:
    """The new version, with its audit entry in the load's own transaction."""
    return loading.publish(
        stores, name, mode, load, record=audit.registry_loaded(actor), new_key=new_key
    )


def listing(session: Session) -> list[tuple[Registry, RegistryVersion | None, int]]:
    return versions.listing(session)


def delete(stores: Stores, name: str, *, actor: str) -> None:
    """Its grants go at once; its versions once no running task answers from them."""
    with stores.sessions.begin() as session:
        versions.delete(session, name)
        audit.record(session, actor, "registry.deleted", name)
    versions.collect_unused(stores)


def grant(session: Session, name: str, user_name: str, *, actor: str) -> None:
    versions.grant(session, name, users.get_by_name(session, user_name))
    audit.record(session, actor, "registry.granted", name, user=user_name)


def revoke(session: Session, name: str, user_name: str, *, actor: str) -> None:
    versions.revoke(session, name, users.get_by_name(session, user_name))
    audit.record(session, actor, "registry.revoked", name, user=user_name)
