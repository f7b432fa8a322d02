"""`validate`: validity, type, region, carrier, time zones, formats, country, location, reason."""

from __future__ import annotations

from collections.abc import Sequence

from numcheck import numbers
from numcheck.checks.base import BatchResult, Failure, Outcome
from numcheck.numbers.compiled import validator

_YES_NO = {True: "yes", False: "no"}


class ValidateCheck:
    name = "validate"
    description = (
        "Validity, number type, region, original carrier, time zones, national and "
        "international formats, country, location and why an invalid number is not valid, "
        "from libphonenumber's metadata."
    )
    columns = (
        "valid",
        "type",
        "region",
        "carrier",
        "timezones",
        "national",
        "international",
        "country",
        "location",
        "reason",
    )

    def version_facts(self) -> dict[str, str]:
        return {"phonenumbers_metadata": numbers.reference.METADATA_VERSION}

    def check_batch(self, lines: Sequence[str], default_region: str | None) -> BatchResult:
        batch = validator.shared().describe_lines(list(lines), default_region)
        columns = [batch.values[name] for name in validator.VALUE_COLUMNS]
        columns[validator.VALUE_COLUMNS.index("valid")] = list(
            map(_YES_NO.get, batch.values["valid"])
        )
        rows = list(zip(*columns, strict=True))  # one tuple per parsed line, built in C
        stats = {"fallbacks": batch.fallbacks}
        if batch.positions == list(range(len(lines))):
            return BatchResult(rows, stats)  # type: ignore[arg-type]  # every line a number, in order
        outcomes: list[Outcome | None] = [
            None if reason is None else Failure(reason) for reason in batch.reasons
        ]
        for position, row in zip(batch.positions, rows, strict=True):
            outcomes[position] = row
        return BatchResult(outcomes, stats)  # type: ignore[arg-type]
