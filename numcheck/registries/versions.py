"""Registries, their versions and grants in the database; snapshot keys in the blob store."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import and_, exists, func, select, text
from sqlalchemy.orm import Session

from numcheck import errors
from numcheck.states import ACTIVE
from numcheck.storage.models import (
    Registry,
    RegistryGrant,
    RegistryVersion,
    Task,
    TaskRegistryVersion,
    User,
)
from numcheck.storage.stores import Stores

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def snapshot_key(name: str, version: int) -> str:
    return f"registries/{name}/{version:06d}.u64"


def check_name(name: str, reserved: set[str]) -> None:
    """Registry names are check names: short, lowercase, and not a built-in check's."""
    if not _NAME.fullmatch(name):
        raise errors.InvalidRequest(
            "A registry name is 1-32 characters: lowercase letters, digits, '_' or '-', "
            "starting with a letter."
        )
    if name in reserved:
        raise errors.InvalidRequest(f"{name!r} is the name of a built-in check.")


def current(session: Session, name: str) -> RegistryVersion | None:
    """The version a new task of registry `name` would use, or None."""
    return session.scalars(
        select(RegistryVersion)
        .join(Registry, Registry.current_version_id == RegistryVersion.id)
        .where(Registry.name == name)
    ).one_or_none()


def usable_by(session: Session, user: User) -> list[RegistryVersion]:
    """Current versions of the registries `user` may query: all for admins, granted ones else."""
    query = select(RegistryVersion).join(
        Registry, Registry.current_version_id == RegistryVersion.id
    )
    if not user.is_admin:
        query = query.join(
            RegistryGrant,
            and_(RegistryGrant.name == Registry.name, RegistryGrant.user_id == user.id),
        )
    return list(session.scalars(query.order_by(Registry.name)))


def listing(session: Session) -> list[tuple[Registry, RegistryVersion | None, int]]:
    """Every registry with its current version and how many users are granted it."""
    grants = (
        select(func.count())
        .select_from(RegistryGrant)
        .where(RegistryGrant.name == Registry.name)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Registry, RegistryVersion, grants)
        .outerjoin(RegistryVersion, RegistryVersion.id == Registry.current_version_id)
        .order_by(Registry.name)
    )
    return [(registry, version, count) for registry, version, count in rows]


def check_key(session: Session, key_check: str) -> None:
    """Refuse a registry key other than the one the current registries were hashed with: such a
    machine would answer "no" for every number. (After a deliberate change of key, reload
    every registry with `numcheck registry load --new-key`.)"""
    other = session.scalar(
        select(RegistryVersion.name)
        .join(Registry, Registry.current_version_id == RegistryVersion.id)
        .where(RegistryVersion.key_check.is_not(None), RegistryVersion.key_check != key_check)
        .order_by(RegistryVersion.name)
        .limit(1)
    )
    if other is not None:
        raise key_mismatch(other)


def key_mismatch(name: str) -> errors.RegistryKeyMismatch:
    return errors.RegistryKeyMismatch(
        f"This machine's registry key is not the one registry {name!r} was loaded with: "
        "set NUMCHECK_REGISTRY_KEY to the same value on every machine (after changing the "
        "key on purpose, reload each registry with `numcheck registry load --new-key`)."
    )


def lock_for_load(session: Session, name: str) -> None:
    """Hold registry `name`'s load lock until the transaction ends (PostgreSQL: an advisory
    lock per name; SQLite serializes writing transactions anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(
            hashlib.blake2b(f"numcheck registry load {name}".encode(), digest_size=8).digest(),
            "big",
            signed=True,
        )
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def publish(
    session: Session,
    name: str,
    *,
    entries: int,
    mode: str,
    source_sha256: str,
    key_check: str,
    digest: str,
) -> RegistryVersion:
    """Record a new version of `name` (creating the registry) and make it current."""
    registry = session.get(Registry, name)
    if registry is None:
        registry = Registry(name=name)
        session.add(registry)
    last = session.scalar(
        select(func.max(RegistryVersion.version)).where(RegistryVersion.name == name)
    )
    version = RegistryVersion(
        name=name,
        version=(last or 0) + 1,
        entries=entries,
        mode=mode,
        source_sha256=source_sha256,
        key_check=key_check,
        digest=digest,
    )
    session.add(version)
    session.flush()
    registry.current_version_id = version.id
    return version


def get(session: Session, name: str) -> Registry:
    registry = session.get(Registry, name) if _NAME.fullmatch(name) else None
    if registry is None:
        raise errors.RegistryNotFound(f"No registry named {name!r}.")
    return registry


def delete(session: Session, name: str) -> None:
    """Forget a registry and its grants; versions go once no running task uses them."""
    registry = get(session, name)
    session.query(RegistryGrant).filter(RegistryGrant.name == name).delete()
    session.delete(registry)


def grant(session: Session, name: str, user: User) -> None:
    get(session, name)
    if session.get(RegistryGrant, (name, user.id)) is None:
        session.add(RegistryGrant(name=name, user_id=user.id))


def revoke(session: Session, name: str, user: User) -> None:
    found = session.get(RegistryGrant, (name, user.id))
    if found is not None:
        session.delete(found)


def unused_versions(session: Session) -> list[RegistryVersion]:
    """Versions that are not current and that no pending or processing task answers from."""
    is_current = exists().where(Registry.current_version_id == RegistryVersion.id)
    in_use = exists().where(
        TaskRegistryVersion.registry_version_id == RegistryVersion.id,
        TaskRegistryVersion.task_id == Task.id,
        Task.status.in_(ACTIVE),
    )
    return list(session.scalars(select(RegistryVersion).where(~is_current, ~in_use)))


def collect_unused(stores: Stores) -> int:
    """Delete unused versions: their rows first, then their snapshots; returns how many."""
    with stores.sessions.begin() as session:
        unused = unused_versions(session)
        keys = [snapshot_key(version.name, version.version) for version in unused]
        for version in unused:
            session.delete(version)
    for key in keys:
        stores.blobs.delete(key)
    return len(keys)
