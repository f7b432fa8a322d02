"""Which checks a user may run, what a task records of the checks it runs, and the check a
stored task runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from numcheck import checks, errors
from numcheck.checks import Check, combined
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


MAX_CHECKS = 8  # checks named in one task_type


def resolve(session: Session, user: User, task_type: str | None) -> list[Check]:
    """The checks `task_type` names (one, or several separated by commas), in that order, if
    `user` may run every one of them; UnknownCheck naming the others otherwise."""
    names = [name.strip() for name in (task_type or "").split(",")]
    if all(name in checks.BUILTIN_CHECKS for name in names) and len(set(names)) == len(names):
        # Built-in checks only: no registry to look up (the real-time lookup's common case).
        return [checks.BUILTIN_CHECKS[name] for name in names]
    mine = available(session, user)
    yours = f"your checks are: {', '.join(sorted(mine))}"
    if not task_type or not task_type.strip():
        raise errors.InvalidRequest(f"Missing field task_type; {yours}.")
    if not all(names) or len(names) > MAX_CHECKS or len(set(names)) != len(names):
        raise errors.InvalidRequest(
            f"task_type names up to {MAX_CHECKS} different checks separated by commas "
            f"(validate,htx); {yours}."
        )
    unknown = [name for name in names if name not in mine]
    if unknown:
        # The same answer whether a name exists for others or not at all.
        named = ", ".join(repr(name[:64]) for name in unknown[:MAX_CHECKS])
        raise errors.UnknownCheck(f"Unknown task_type {named}; {yours}.")
    return [mine[name] for name in names]


def record(checks_run: Sequence[Check]) -> str:
    """What a task records of its checks (its check_facts): each one's name, the facts its
    answers come from, and the registry version it answers from."""
    return json.dumps(
        {
            "checks": [
                {
                    "name": check.name,
                    "facts": check.version_facts(),
                    "registry_version_id": getattr(check, "version_id", None),
                }
                for check in checks_run
            ]
        }
    )


def _recorded(check_facts: str | None) -> list[dict[str, Any]]:
    checks_run: list[dict[str, Any]] = json.loads(check_facts or "{}").get("checks", [])
    return checks_run


def registry_version_ids(check_facts: str | None) -> list[int]:
    """The registry versions a task answers from."""
    return [
        spec["registry_version_id"]
        for spec in _recorded(check_facts)
        if spec.get("registry_version_id") is not None
    ]


def summary_facts(task_type: str, check_facts: str | None) -> dict[str, Any]:
    """The `check` of summary.json: the check's name and facts; for several, each one's."""
    checks_run = [{"name": spec["name"], **spec["facts"]} for spec in _recorded(check_facts)]
    if len(checks_run) == 1:
        return checks_run[0]
    return {"name": task_type, "checks": checks_run}


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
        self._digests: dict[int, str] = {}  # per version checked: its digest

    def for_task(self, check_facts: str | None) -> Check:
        """The check a stored task runs (its checks, combined), answering from the registry
        versions it started with."""
        return combined.combine([self._check(spec) for spec in _recorded(check_facts)])

    def _check(self, spec: dict[str, Any]) -> Check:
        name, facts, version_id = spec["name"], spec["facts"], spec["registry_version_id"]
        builtin = checks.builtin(name)
        if builtin is not None:
            return builtin
        if version_id is None:
            raise LookupError(f"no check named {name!r}")
        key = registry_versions.snapshot_key(name, facts["registry_version"])
        blobs = self._stores.blobs
        return RegistryCheck(
            name,
            version=facts["registry_version"],
            version_id=version_id,
            entries=facts["registry_entries"],
            snapshot=lambda: self._snapshots.get(version_id, blobs.local_path(key)),
            hasher=self._checked_hasher(version_id),
        )

    def _checked_hasher(self, registry_version_id: int) -> KeyedHasher:
        """This process's hasher, once it is known to be the key the version was hashed with,
        hashing with the digest the version was hashed with."""
        if self._hasher is None:
            self._hasher = hasher(self._stores.settings)
        if registry_version_id not in self._digests:
            with self._stores.sessions.begin() as session:
                version = session.get_one(RegistryVersion, registry_version_id)
                if version.key_check not in (None, self._hasher.key_check):
                    raise registry_versions.key_mismatch(version.name)
                self._digests[registry_version_id] = version.digest
        return self._hasher.with_digest(self._digests[registry_version_id])
