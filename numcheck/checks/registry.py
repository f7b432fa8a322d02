"""Registry checks: is each number in a registry the operator loaded (yes/no)?

Membership is about the string the operator loaded: a well-formed number that is not valid
for its region is still looked up; only lines that are not phone numbers at all fail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from numcheck.checks.base import BatchResult
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
        # The parsed lines (those without a reason): their positions and E.164, in the batch's
        # order, which is the lines' order unless some needed normalizing.
        positions, numbers = batch.positions, batch.values.get("e164", [])
        found = self._snapshot().contains(self._hasher.digests(numbers)).tolist()
        columns = [numbers, list(map(_ANSWER.__getitem__, found))]
        return BatchResult.of_parsed(
            positions, columns, batch.reasons, {"fallbacks": batch.fallbacks}
        )


_ANSWER = ("no", "yes")  # by membership, False or True
