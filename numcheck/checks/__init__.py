"""The checks a task can run: a name, result columns, and `check_batch(lines) -> outcomes`."""

from numcheck.checks.base import Check, Failure, Outcome
from numcheck.checks.validate import ValidateCheck

BUILTIN_CHECKS: dict[str, Check] = {check.name: check for check in (ValidateCheck(),)}


def builtin(name: str) -> Check | None:
    """The built-in check called `name`, or None."""
    return BUILTIN_CHECKS.get(name)


__all__ = ["BUILTIN_CHECKS", "Check", "Failure", "Outcome", "builtin"]
