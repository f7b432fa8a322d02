"""The checks a task can run: a name, result columns, and `check_batch(lines) -> outcomes`."""

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


__all__ = ["BUILTIN_CHECKS", "BatchResult", "Check", "Failure", "Outcome", "builtin", "prepare"]
