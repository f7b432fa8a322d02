"""`validate`: validity, type, region, original carrier and time zones of each number."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from numcheck import numbers
from numcheck.checks.base import BatchResult, Failure, Outcome
from numcheck.numbers.compiled.validator import CompiledValidator

_YES_NO = {True: "yes", False: "no"}


_validator: CompiledValidator | None = None


def prepare(cache_dir: Path | None) -> CompiledValidator:
    """Load this process's compiled validator, building and caching it on first use."""
    global _validator
    _validator = CompiledValidator.load(cache_dir)
    return _validator


def compiled_validator() -> CompiledValidator:
    return _validator or prepare(None)


def candidates_of(
    lines: Sequence[str], default_region: str | None
) -> tuple[list[str], list[int], dict[int, str]]:
    """Normalize lines: (candidates, their line indexes, failure reasons by line index)."""
    candidates: list[str] = []
    positions: list[int] = []
    failures: dict[int, str] = {}
    for i, line in enumerate(lines):
        # Most lines are already E.164: skip the general normalization for them.
        if line[:1] == "+" and line.isascii() and line[1:].isdigit():
            candidates.append(line)
            positions.append(i)
            continue
        try:
            candidates.append(numbers.normalize_line(line, default_region))
            positions.append(i)
        except numbers.NotANumber as exc:
            failures[i] = exc.reason
    return candidates, positions, failures


class ValidateCheck:
    name = "validate"
    description = (
        "Validity, number type, region, original carrier and time zones, "
        "from libphonenumber's metadata."
    )
    columns = ("valid", "type", "region", "carrier", "timezones")

    def version_facts(self) -> dict[str, str]:
        return {"phonenumbers_metadata": numbers.reference.METADATA_VERSION}

    def check_batch(self, lines: Sequence[str], default_region: str | None) -> BatchResult:
        candidates, positions, failures = candidates_of(lines, default_region)
        batch = compiled_validator().describe_batch(candidates, default_region)
        rows = zip(
            batch.e164,
            map(_YES_NO.get, batch.valid),
            batch.type,
            batch.region,
            batch.carrier,
            batch.timezones,
        )
        stats = {"fallbacks": batch.fallbacks}
        if not failures and None not in batch.reasons:
            return BatchResult(list(rows), stats)  # the common case: every line a number
        outcomes: list[Outcome] = [Failure("")] * len(lines)
        for i, reason in failures.items():
            outcomes[i] = Failure(reason)
        for i, reason, row in zip(positions, batch.reasons, rows):
            outcomes[i] = Failure(reason) if reason is not None else row
        return BatchResult(outcomes, stats)
