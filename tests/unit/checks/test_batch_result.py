"""A batch's answers kept as value columns and failures apart: built from interleaved outcomes
or from a parse (whose rows come in two ascending runs), and interleaved back, line for line; a
combined check joins its checks' columns, and a line that any of them failed fails."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from numcheck.checks import BatchResult, Failure, Outcome
from numcheck.checks.combined import CombinedCheck

reasons = st.sampled_from(["not_a_number", "too_short", "invalid_country_code"])
outcome = st.one_of(
    st.builds(Failure, reasons),
    st.tuples(st.from_regex(r"\+[0-9]{4,8}", fullmatch=True), st.sampled_from(["yes", "no"])),
)


@given(st.lists(outcome, max_size=40))
def test_outcomes_split_and_interleaved_again_are_the_same(outcomes: list[Outcome]) -> None:
    answers = BatchResult.of(outcomes, {"fallbacks": 1})
    assert answers.outcomes == outcomes
    assert answers.rows == [o for o in outcomes if not isinstance(o, Failure)]
    assert answers.answered + len(answers.failures) == len(outcomes)
    assert answers.stats == {"fallbacks": 1}


@given(st.lists(outcome, max_size=40), st.data())
def test_a_parse_with_its_rows_in_two_runs_gives_the_lines_order(
    outcomes: list[Outcome], data: st.DataObject
) -> None:
    """The compiled parse answers the `+digits` lines first and the lines it had to normalize
    after them: two ascending runs of positions."""
    parsed = [n for n, o in enumerate(outcomes) if not isinstance(o, Failure)]
    normalized = set(data.draw(st.lists(st.sampled_from(parsed), unique=True)) if parsed else [])
    positions = [n for n in parsed if n not in normalized] + sorted(normalized)
    rows = [row for n in positions if isinstance(row := outcomes[n], tuple)]
    columns = [list(column) for column in zip(*rows, strict=True)]
    why = [o.reason if isinstance(o, Failure) else None for o in outcomes]

    answers = BatchResult.of_parsed(positions, columns, why)

    assert answers == BatchResult.of(outcomes)


class Scripted:
    """A check answering every line as it was told to."""

    def __init__(self, name: str, outcomes: Sequence[Outcome]) -> None:
        self.name = self.description = name
        self.columns = (name,)
        self._outcomes = list(outcomes)

    def version_facts(self) -> dict[str, str | int]:
        return {}

    def check_batch(self, lines: Sequence[str], default_region: str | None) -> BatchResult:
        return BatchResult.of(self._outcomes, {"fallbacks": len(self.name)})


def test_a_combined_check_joins_the_rows_after_the_shared_number() -> None:
    first = Scripted("a", [("+1", "x"), Failure("too_short"), ("+3", "z")])
    second = Scripted("bb", [("+1", "yes"), Failure("too_short"), ("+3", "no")])

    answers = CombinedCheck([first, second]).check_batch(["l1", "l2", "l3"], None)

    assert answers.outcomes == [("+1", "x", "yes"), Failure("too_short"), ("+3", "z", "no")]
    assert answers.stats == {"fallbacks": 2}  # the same lines: the largest count, not a sum


def test_a_line_any_check_failed_fails_in_the_combined_check_with_the_first_reason() -> None:
    first = Scripted("a", [("+1", "x"), Failure("too_short"), ("+3", "z")])
    second = Scripted("b", [Failure("not_a_number"), Failure("too_long"), ("+3", "no")])

    answers = CombinedCheck([first, second]).check_batch(["l1", "l2", "l3"], None)

    assert answers.outcomes == [Failure("not_a_number"), Failure("too_short"), ("+3", "z", "no")]
