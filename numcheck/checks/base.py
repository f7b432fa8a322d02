"""What every check looks like to the task code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Failure:
    """A line that could not be processed; `reason` is a stable machine word."""

    reason: str


# A line's answer: a result row (its first value is the E.164 number).
Row = tuple[str, ...]
# One outcome per input line: a result row or a Failure.
Outcome = Row | Failure


@dataclass
class BatchResult:
    """A batch's answers, one per line, kept as the value columns of the lines that are numbers
    (one list per result column, `Number` first, in the lines' order) and the failures of the
    others (position and reason, ascending).

    Columns, because that is how the compiled validator computes its answers and how the result
    file renders and tallies them (a column is checked for characters that need quoting once,
    not field by field); rows and failures apart, because nearly every line is a row and the
    result file writes the two apart. `rows` and `outcomes` give the other shapes."""

    columns: list[list[str]]  # empty when no line is a number
    failures: list[tuple[int, str]] = field(default_factory=list)
    # Counters for summary.json, e.g. {"fallbacks": 3}: lines the fast path handed to the reference.
    stats: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, outcomes: Sequence[Outcome], stats: dict[str, int] | None = None) -> BatchResult:
        rows: list[Row] = []
        failures: list[tuple[int, str]] = []
        for position, outcome in enumerate(outcomes):
            if isinstance(outcome, Failure):
                failures.append((position, outcome.reason))
            else:
                rows.append(outcome)
        return cls([list(column) for column in zip(*rows, strict=True)], failures, stats or {})

    @classmethod
    def of_parsed(
        cls,
        positions: Sequence[int],
        columns: list[list[str]],
        reasons: Sequence[str | None],
        stats: dict[str, int] | None = None,
    ) -> BatchResult:
        """From a parse of the lines: row k of `columns` answers the line at `positions[k]`
        (ascending but for lines that needed normalizing, answered after the rest), and
        `reasons[n]` says why line n is not a number (None for the lines that are)."""
        if sorted(positions) != positions:  # linear on the runs a parse gives
            order = sorted(range(len(positions)), key=positions.__getitem__)
            columns = [[column[k] for k in order] for column in columns]
        failures = (
            [(n, reason) for n, reason in enumerate(reasons) if reason is not None]
            if len(positions) < len(reasons)
            else []
        )
        return cls(columns if positions else [], failures, stats or {})

    @property
    def answered(self) -> int:
        """How many lines are numbers (have a row)."""
        return len(self.columns[0]) if self.columns else 0

    @property
    def rows(self) -> list[Row]:
        """One tuple per line that is a number, in order."""
        return list(zip(*self.columns, strict=True))

    @property
    def outcomes(self) -> list[Outcome]:
        """One outcome per line, in order."""
        if not self.failures:
            return list(self.rows)
        outcomes: list[Outcome] = []
        rows = iter(self.rows)
        position = 0
        for failed, reason in self.failures:
            outcomes.extend(next(rows) for _ in range(failed - position))
            outcomes.append(Failure(reason))
            position = failed + 1
        outcomes.extend(rows)
        return outcomes


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
        """Check raw lines (one answer each: a row or a failure)."""
        ...
