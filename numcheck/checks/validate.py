"""`validate`: validity, type, region, original carrier and time zones of each number."""

from __future__ import annotations

from collections.abc import Sequence

from numcheck import numbers
from numcheck.checks.base import BatchResult, Failure, Outcome
from numcheck.numbers.compiled import validator

_YES_NO = {True: "yes", False: "no"}


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
        batch = validator.shared().describe_lines(list(lines), default_region)
        rows = zip(
            batch.e164,
            map(_YES_NO.get, batch.valid),
            batch.type,
            batch.region,
            batch.carrier,
            batch.timezones,
        )
        stats = {"fallbacks": batch.fallbacks}
        if batch.reasons.count(None) == len(batch.reasons):
            return BatchResult(list(rows), stats)  # the common case: every line a number
        outcomes: list[Outcome] = [
            row if reason is None else Failure(reason)
            for reason, row in zip(batch.reasons, rows, strict=True)
        ]
        return BatchResult(outcomes, stats)
