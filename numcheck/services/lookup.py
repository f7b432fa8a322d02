"""Real-time lookups: up to a thousand numbers checked in the request, for sign-up and KYC
forms. The same checks, grants, limits and credits as a task — but no task row, no blob: the
compiled validator and the registries' current snapshots, mapped once, answer in the API
process itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from numcheck import errors, numbers
from numcheck.accounts import credits
from numcheck.checks import Failure
from numcheck.storage.models import User
from numcheck.storage.stores import Stores
from numcheck.tasks import catalog

MAX_NUMBERS = 1000


@dataclass(frozen=True)
class Answer:
    """One input line's answer: the results row's fields, or the reason it failed."""

    input: str
    fields: dict[str, str] | None
    failure: str | None


class Lookups:
    """Answers lookups; one per API process, keeping its registry snapshots mapped."""

    def __init__(self, stores: Stores) -> None:
        self._stores = stores
        self._checks = catalog.TaskChecks(stores)

    def answer(
        self, user: User, lines: Sequence[str], task_type: str, default_region: str | None
    ) -> list[Answer]:
        """Check `lines` with the checks `task_type` names and charge a credit per answered
        line per check; refusals (an unknown check, too many lines, too few credits) charge
        nothing."""
        settings = self._stores.settings
        if not lines:
            raise errors.InvalidRequest("Send at least one number in `numbers`.")
        if len(lines) > MAX_NUMBERS:
            raise errors.TooManyLines(f"A lookup takes at most {MAX_NUMBERS} numbers.")
        if any(len(line) > settings.max_line_chars for line in lines):
            raise errors.LineTooLong(
                f"A number is longer than the limit of {settings.max_line_chars} characters."
            )
        region = numbers.default_region(default_region)
        with self._stores.sessions.begin() as session:
            checks_run = catalog.resolve(session, user, task_type)
        check = self._checks.for_task(catalog.record(checks_run))
        outcomes = check.check_batch(list(lines), region).outcomes
        columns = ("Number", *check.columns)
        answers = [
            Answer(line, None, outcome.reason)
            if isinstance(outcome, Failure)
            else Answer(line, dict(zip(columns, outcome, strict=True)), None)
            for line, outcome in zip(lines, outcomes, strict=True)
        ]
        answered = sum(answer.failure is None for answer in answers)
        with self._stores.sessions.begin() as session:
            credits.charge_lookup(session, user.id, answered * len(checks_run))
        return answers
