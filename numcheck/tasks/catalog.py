"""Which checks a user may run, and the check a task runs."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from numcheck import checks, errors
from numcheck.checks import Check
from numcheck.checks.registry import RegistryCheck
from numcheck.config import Settings
from numcheck.registries import versions as registry_versions
from numcheck.registries.hashing import KeyedHasher
from numcheck.registries.keys import registry_key
from numcheck.registries.snapshot import SnapshotCache
from numcheck.storage.models import RegistryVersion, User
from numcheck.storage.stores import Stores


def hasher(settings: Settings) -> KeyedHasher:
    """A hasher for this machine's registry key."""
    return KeyedHasher(registry_key(settings))


def available(session: Session, user: User) -> dict[str, Check]:
    """The checks `user` may run, by name: the built-in ones and the registries granted."""
    mine: dict[str, Check] = dict(checks.BUILTIN_CHECKS)
    for version in registry_versions.usable_by(session, user):
        mine[version.name] = RegistryCheck(
            version.name, version=version.version, version_id=version.id, entries=version.entries
        )
    return mine


def resolve(session: Session, user: User, task_type: str | None) -> Check:
    """The check named `task_type`, if `user` may run it; otherwise UnknownCheck."""
    mine = available(session, user)
    if not task_type:
        raise errors.InvalidRequest(
            f"Missing field task_type; your checks are: {', '.join(sorted(mine))}."
        )
    check = mine.get(task_type)
    if check is None:
        # The same answer whether the name exists for others or not at all.
        raise errors.UnknownCheck(
            f"Unknown task_type {task_type[:64]!r}; your checks are: {', '.join(sorted(mine))}."
        )
    return check


def check_registry_key(stores: Stores) -> None:
    """At start on a shared database: refuse this machine's registry key unless the current
    registries were hashed with it (RegistryKeyMismatch, naming the variable to set)."""
    with stores.sessions.begin() as session:
        registry_versions.check_key(session, hasher(stores.settings).key_check)


class TaskChecks:
    """The checks stored tasks run, as one worker process holds them: each registry version
    mapped once and reused across chunks and tasks, the registry key read once and checked
    once per version against the key the version was hashed with."""

    def __init__(self, stores: Stores) -> None:
        self._stores = stores
        self._snapshots = SnapshotCache()
        self._hasher: KeyedHasher | None = None
        self._keys_checked: set[int] = set()

    def for_task(
        self, task_type: str, registry_version_id: int | None, check_facts: str | None
    ) -> Check:
        """The check a stored task runs, answering from the registry version it started with."""
        builtin = checks.builtin(task_type)
        if builtin is not None:
            return builtin
        if registry_version_id is None:
            raise LookupError(f"no check named {task_type!r}")
        facts = json.loads(check_facts or "{}")
        key = registry_versions.snapshot_key(task_type, facts["registry_version"])
        blobs = self._stores.blobs
        return RegistryCheck(
            task_type,
            version=facts["registry_version"],
            version_id=registry_version_id,
            entries=facts["registry_entries"],
            snapshot=lambda: self._snapshots.get(registry_version_id, blobs.local_path(key)),
            hasher=self._checked_hasher(registry_version_id),
        )

    def _checked_hasher(self, registry_version_id: int) -> KeyedHasher:
        """This process's hasher, once it is known to be the key the version was hashed with."""
        if self._hasher is None:
            self._hasher = hasher(self._stores.settings)
        if registry_version_id not in self._keys_checked:
            with self._stores.sessions.begin() as session:
                version = session.get_one(RegistryVersion, registry_version_id)
                if version.key_check not in (None, self._hasher.key_check):
                    raise registry_versions.key_mismatch(version.name)
            self._keys_checked.add(registry_version_id)
        return self._hasher
