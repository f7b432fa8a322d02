"""Users: a name, a role, an opaque id."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from numcheck import errors, ids
from numcheck.accounts import credits, keys
from numcheck.storage.models import User

BOOTSTRAP_ADMIN = "admin"
_BOOTSTRAP_LOCK = 0x6E756D636865636B  # "numcheck": the advisory lock of the first start


def get_by_name(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise errors.UserNotFound(f"No user named {name!r}.")
    return user


def get_or_create(
    session: Session, name: str, *, is_admin: bool = False, default_credits: int | None = None
) -> User:
    """The user called `name`, created when missing with the starting credits (None: unlimited).

    An existing user keeps its role and credits.
    """
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        if not name or len(name) > 100:
            raise errors.InvalidRequest("A user name has 1 to 100 characters.")
        user = User(id=ids.new_user_id(), name=name, is_admin=is_admin)
        session.add(user)
        session.flush()
        credits.start(session, user, default_credits)
    return user


def bootstrap_admin(session: Session) -> keys.NewKey | None:
    """On a database without users, create the first admin and a key for it."""
    if session.get_bind().dialect.name == "postgresql":
        # Servers started together on an empty shared database: one at a time from here on, so
        # exactly one of them creates the admin and its key. (SQLite writers are serialized.)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BOOTSTRAP_LOCK})
    if session.scalar(select(func.count()).select_from(User)):
        return None
    admin = get_or_create(session, BOOTSTRAP_ADMIN, is_admin=True)
    return keys.create(session, admin)
