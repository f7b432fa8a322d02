"""Users, keys and credits as an operator changes them (admin API and CLI alike)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from numcheck.accounts import audit, credits, keys, users
from numcheck.storage.models import ApiKey, User


@dataclass(frozen=True)
class UserAccount:
    """A user with their credits, as both front ends show them."""

    user: User
    credits: credits.Account

    @property
    def role(self) -> str:
        return users.role_of(self.user)


def describe(session: Session, user: User) -> UserAccount:
    return UserAccount(user, credits.account(session, user.id))


def list_users(session: Session) -> list[UserAccount]:
    return [describe(session, user) for user in session.scalars(select(User).order_by(User.name))]


def create_user(
    session: Session, name: str, *, actor: str, admin: bool, default_credits: int | None
) -> User:
    """The user called `name`, created when missing (audited); `admin` promotes an existing
    user too."""
    user = users.get_or_create(
        session, name, actor=actor, is_admin=admin, default_credits=default_credits
    )
    if admin:
        users.make_admin(session, user, actor=actor)
    return user


def create_key(session: Session, user: User, *, actor: str) -> keys.NewKey:
    new_key = keys.create(session, user)
    audit.record(session, actor, "key.created", user.name, prefix=new_key.prefix)
    return new_key


def list_keys(session: Session, user_name: str | None = None) -> list[tuple[ApiKey, User]]:
    owner_id = users.get_by_name(session, user_name).id if user_name else None
    return keys.list_keys(session, owner_id)


def revoke_key(session: Session, prefix: str, *, actor: str) -> None:
    keys.revoke(session, prefix)
    audit.record(session, actor, "key.revoked", prefix)


def grant_credits(session: Session, user_name: str, amount: int, *, actor: str) -> UserAccount:
    user = users.get_by_name(session, user_name)
    credits.grant(session, user, amount)
    audit.record(session, actor, "credits.granted", user_name, credits=amount)
    return describe(session, user)


def set_credits(session: Session, user_name: str, amount: int | None, *, actor: str) -> UserAccount:
    """A balance of `amount`, or unlimited (None)."""
    user = users.get_by_name(session, user_name)
    credits.set_balance(session, user, amount)
    audit.record(
        session, actor, "credits.set", user_name, credits="unlimited" if amount is None else amount
    )
    return describe(session, user)
