"""The checks a task can run: a name, result columns, and `check_batch(lines)`: a row for each
line that is a number, a failure for each other line."""

from pathlib import Path

from numcheck.checks.base import BatchResult, Check, Failure, Outcome
from numcheck.checks.validate import ValidateCheck
from numcheck.numbers.compiled import validator

BUILTIN_CHECKS: dict[str, Check] = {check.name: check for check in (ValidateCheck(),)}


def builtin(name: str) -> Check | None:
    """The built-in check called `name`, or None."""
    return BUILTIN_CHECKS.get(name)


def prepare(cache_dir: Path | None) -> None:
    """Load what the checks need once per process (the compiled validator, built if missing)."""
    validator.prepare(cache_dir)


def warm_up() -> None:
    """Answer one number, so that the tables a first batch would load on first use (the
    geocoder's, mapped from the cache) are loaded now."""
    validator.shared().describe_lines(["+12025550123"])


__all__ = [
    "BUILTIN_CHECKS",
    "BatchResult",
    "Check",
    "Failure",
    "Outcome",
    "builtin",
    "prepare",
    "warm_up",
]
