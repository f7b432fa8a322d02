"""Several checks run on every line of one task: `validate,htx` answers with `Number`, then each
check's columns in the order asked."""

from __future__ import annotations

from collections.abc import Sequence

from numcheck.checks.base import BatchResult, Check, Failure, Outcome


class CombinedCheck:
    """The checks of a `task_type` list, as one check. Every check reads a line the same way
    (the compiled validator's parse), so a line fails in all of them or in none."""

    def __init__(self, checks: Sequence[Check]) -> None:
        assert len(checks) > 1, "one check is itself"
        self.checks = tuple(checks)
        self.name = ",".join(check.name for check in checks)
        self.description = "; ".join(check.description for check in checks)
        self.columns = tuple(column for check in checks for column in check.columns)

    def version_facts(self) -> dict[str, str | int]:
        facts: dict[str, str | int] = {}
        for check in self.checks:
            facts |= {f"{check.name}.{key}": value for key, value in check.version_facts().items()}
        return facts

    def check_batch(self, lines: Sequence[str], default_region: str | None) -> BatchResult:
        results = [check.check_batch(lines, default_region) for check in self.checks]
        stats: dict[str, int] = {}
        for result in results:
            for key, value in result.stats.items():
                stats[key] = max(stats.get(key, 0), value)  # the same lines, counted once
        first, *others = results
        if all(other.failures == first.failures for other in others):  # the rule: all or none
            # Each check's columns after the shared Number.
            columns = first.columns + [c for other in others for c in other.columns[1:]]
            return BatchResult(columns, first.failures, stats)
        # A line one check failed fails in all: its first failure stands.
        outcomes: list[Outcome] = []
        for answers in zip(*(result.outcomes for result in results), strict=True):
            failure = next((a for a in answers if isinstance(a, Failure)), None)
            if failure is not None:
                outcomes.append(failure)
            else:
                head, *tail = [answer for answer in answers if isinstance(answer, tuple)]
                outcomes.append(head + tuple(value for row in tail for value in row[1:]))
        return BatchResult.of(outcomes, stats)


def combine(checks: Sequence[Check]) -> Check:
    """One check for a task's checks: the check itself when there is one."""
    return checks[0] if len(checks) == 1 else CombinedCheck(checks)
