"""Users: a name, a role, an opaque id."""

from __future__ import annotations

import re

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from numcheck import errors, ids
from numcheck.accounts import audit, credits, keys
from numcheck.storage.models import User

BOOTSTRAP_ADMIN = "admin"
_BOOTSTRAP_LOCK = 0x6E756D636865636B  # "numcheck": the advisory lock of the first start

# New user names: ASCII letters and digits, and . _ @ + - inside (e-mail addresses fit). No
# whitespace or control characters (a name ends up in tab-separated output and logs) and no
# look-alike letters of other scripts (a Cyrillic "a", U+0430, in "admin" would pass for it).
NAME_RULE = (
    "1 to 64 characters: ASCII letters, digits and . _ @ + -, "
    "starting and ending with a letter or digit"
)
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._@+-]{0,62}[A-Za-z0-9])?")
_MAX_STORED_NAME = 100  # the column's width: names made before the rule stay reachable


def check_name(name: str) -> str:
    """`name` if it is a valid new user name; InvalidRequest saying the rule otherwise."""
    if not _NAME.fullmatch(name):
        raise errors.InvalidRequest(f"A user name is {NAME_RULE}.")
    return name


def get_by_name(session: Session, name: str) -> User:
    user = None
    if len(name) <= _MAX_STORED_NAME and name.isprintable():
        user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise errors.UserNotFound(f"No user named {name[:_MAX_STORED_NAME]!r}.")
    return user


def get_or_create(
    session: Session,
    name: str,
    *,
    actor: str,
    is_admin: bool = False,
    default_credits: int | None = None,
) -> User:
    """The user called `name`, created when missing with the starting credits (None: unlimited)
    and audited as done by `actor`. An existing user keeps its role and credits."""
    try:
        user = get_by_name(session, name)  # names made before the rule stay reachable
    except errors.UserNotFound:
        user = User(id=ids.new_user_id(), name=check_name(name), is_admin=is_admin)
        session.add(user)
        session.flush()
        credits.start(session, user, default_credits)
        audit.record(session, actor, "user.created", name, role=role_of(user))
    return user


def make_admin(session: Session, user: User, *, actor: str) -> None:
    """Give `user` the admin role (audited); nothing happens to an admin."""
    if not user.is_admin:
        user.is_admin = True
        audit.record(session, actor, "user.promoted", user.name, role=role_of(user))


def role_of(user: User) -> str:
    return "admin" if user.is_admin else "user"


def bootstrap_admin(session: Session) -> keys.NewKey | None:
    """On a database without users, create the first admin and a key for it."""
    if session.get_bind().dialect.name == "postgresql":
        # Servers started together on an empty shared database: one at a time from here on, so
        # exactly one of them creates the admin and its key. (SQLite writers are serialized.)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BOOTSTRAP_LOCK})
    if session.scalar(select(func.count()).select_from(User)):
        return None
    admin = get_or_create(session, BOOTSTRAP_ADMIN, actor="numcheck", is_admin=True)
    return keys.create(session, admin)
