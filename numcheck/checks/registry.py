"""Registry checks: is each number in a registry the operator loaded (yes/no)?

Membership is about the string the operator loaded: a well-formed number that is not valid
for its region is still looked up; only lines that are not phone numbers at all fail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from numcheck.checks.base import BatchResult, Failure, Outcome
from numcheck.numbers.compiled import validator
from numcheck.registries.hashing import KeyedHasher
from numcheck.registries.snapshot import Snapshot


class RegistryCheck:
    def __init__(
        self,
        name: str,
        *,
        version: int,
        version_id: int,
        entries: int,
        snapshot: Callable[[], Snapshot] | None = None,
        hasher: KeyedHasher | None = None,
    ) -> None:
        self.name = name
        self.columns = (name,)
        self.description = f"Membership in the registry {name!r} (yes/no)."
        self.version = version
        self.version_id = version_id
        self.entries = entries
        self._snapshot = snapshot
        self._hasher = hasher

    def version_facts(self) -> dict[str, str | int]:
        return {"registry_version": self.version, "registry_entries": self.entries}

    def check_batch(self, lines: Sequence[str], default_region: str | None) -> BatchResult:
        assert self._snapshot is not None and self._hasher is not None, "a describe-only check"
        batch = validator.shared().describe_lines(list(lines), default_region, classify=False)
        # A line that parsed has its E.164 and no reason; any other has a reason.
        parsed = [
            e164 if reason is None else None
            for e164, reason in zip(batch.e164, batch.reasons, strict=True)
        ]
        numbers = [e164 for e164 in parsed if e164 is not None]
        found = iter(self._snapshot().contains(self._hasher.digests(numbers)).tolist())
        outcomes: list[Outcome] = [
            (e164, "yes" if next(found) else "no") if e164 is not None else Failure(reason or "")
            for e164, reason in zip(parsed, batch.reasons, strict=True)
        ]
        return BatchResult(outcomes, {"fallbacks": batch.fallbacks})
