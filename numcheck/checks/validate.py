"""`validate`: validity, type, region, original carrier and time zones of each number."""

from __future__ import annotations

from collections.abc import Sequence

from numcheck import numbers
from numcheck.checks.base import Failure, Outcome


class ValidateCheck:
    name = "validate"
    description = (
        "Validity, number type, region, original carrier and time zones, "
        "from libphonenumber's metadata."
    )
    columns = ("valid", "type", "region", "carrier", "timezones")

    def version_facts(self) -> dict[str, str]:
        return {"phonenumbers_metadata": numbers.reference.METADATA_VERSION}

    def check_batch(self, lines: Sequence[str], default_region: str | None) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for line in lines:
            try:
                parsed = numbers.parse(numbers.normalize_line(line, default_region), default_region)
            except numbers.NotANumber as exc:
                outcomes.append(Failure(exc.reason))
                continue
            d = numbers.describe(parsed)
            outcomes.append(
                (d.e164, "yes" if d.valid else "no", d.type, d.region, d.carrier, d.timezones)
            )
        return outcomes
