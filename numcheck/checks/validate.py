"""`validate`: validity, type, region, carrier, time zones, formats, country, location, reason."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from numcheck import numbers
from numcheck.checks.base import BatchResult
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

    def version_facts(self) -> dict[str, str | int]:
        return {"phonenumbers_metadata": numbers.reference.METADATA_VERSION}

    def check_batch(self, lines: Sequence[str], default_region: str | None) -> BatchResult:
        with collector_paused():
            return self._check(lines, default_region)

    def _check(self, lines: Sequence[str], default_region: str | None) -> BatchResult:
        batch = validator.shared().describe_lines(list(lines), default_region)
        columns = [batch.values[name] for name in validator.VALUE_COLUMNS]
        columns[validator.VALUE_COLUMNS.index("valid")] = list(
            map(_YES_NO.get, batch.values["valid"])
        )
        stats = {"fallbacks": batch.fallbacks}
        return BatchResult.of_parsed(batch.positions, columns, batch.reasons, stats)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch is answered.

    A chunk of 50,000 lines allocates hundreds of thousands of acyclic objects (strings, row
    tuples); with the collector on, every 700 allocations start a pass over the young objects
    and every tenth pass an older generation's, a sixth of the check's time spent finding
    nothing. What is built here is acyclic (and a cycle, if any, is collected once the
    collector resumes, right after).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
