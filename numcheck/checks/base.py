"""What every check looks like to the task code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Failure:
    """A line that could not be processed; `reason` is a stable machine word."""

    reason: str


# One outcome per input line: a result row (its first value is the E.164 number) or a Failure.
Outcome = tuple[str, ...] | Failure


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    # Counters for summary.json, e.g. {"fallbacks": 3}: lines the fast path handed to the reference.
    stats: dict[str, int] = field(default_factory=dict)


class Check(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def columns(self) -> tuple[str, ...]:
        """Result columns after `Number`."""
        ...

    def version_facts(self) -> dict[str, str | int]:
        """Facts naming the data the answers came from, for summary.json."""
        ...

    def check_batch(self, lines: Sequence[str], default_region: str | None) -> BatchResult:
        """Check raw lines (one outcome each, same order)."""
        ...
