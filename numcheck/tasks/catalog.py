"""Which checks a user may run, and the check a task runs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from numcheck import checks, errors
from numcheck.checks import Check
from numcheck.storage.models import User


def available(session: Session, user: User) -> dict[str, Check]:
    """The checks `user` may run, by name."""
    return dict(checks.BUILTIN_CHECKS)


def resolve(session: Session, user: User, task_type: str | None) -> Check:
    """The check named `task_type`, if `user` may run it; otherwise UnknownCheck."""
    mine = available(session, user)
    if not task_type:
        raise errors.InvalidRequest(
            f"Missing field task_type; your checks are: {', '.join(sorted(mine))}."
        )
    check = mine.get(task_type)
    if check is None:
        # The same answer whether the name exists for others or not at all.
        raise errors.UnknownCheck(
            f"Unknown task_type {task_type[:64]!r}; your checks are: {', '.join(sorted(mine))}."
        )
    return check


def for_task(task_type: str) -> Check:
    """The check a stored task runs (access was decided at creation)."""
    check = checks.builtin(task_type)
    if check is None:
        raise LookupError(f"no check named {task_type!r}")
    return check
