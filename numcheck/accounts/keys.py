"""API keys: `nck_<prefix>_<secret>`, stored as SHA-256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from numcheck import errors
from numcheck.storage.models import ApiKey, User, utcnow

_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_PREFIX_LENGTH = 8


def _is_prefix(text: str) -> bool:
    """Anything else names no key (and never reaches the database)."""
    return len(text) == _PREFIX_LENGTH and set(text) <= set(_PREFIX_ALPHABET)


# Recording every use would make each request a write; a minute's precision is plenty.
_LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewKey:
    prefix: str
    plaintext: str  # shown once, never stored


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(session: Session, user: User) -> NewKey:
    """A new key for `user`; its plaintext exists only in the returned value."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(_PREFIX_LENGTH))
    plaintext = f"nck_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(user_id=user.id, prefix=prefix, key_hash=_hash(plaintext)))
    session.flush()
    return NewKey(prefix=prefix, plaintext=plaintext)


# One query, which every request pays for: built once (building a statement costs more than
# SQLAlchemy's compiled-statement cache then saves), its prefix bound at each call.
_KEY_AND_USER = (
    select(ApiKey, User)
    .join(User, User.id == ApiKey.user_id)
    .where(ApiKey.prefix == bindparam("prefix"))
)


def identify(session: Session, presented: str | None) -> tuple[User, ApiKey]:
    """The user owning the presented key, and the key's row, without writing anything (a
    read-only transaction may call it); NotAuthenticated when missing, unknown or revoked."""
    if not presented:
        raise errors.NotAuthenticated()
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "nck" or not _is_prefix(parts[1]):
        raise errors.NotAuthenticated()
    found = session.execute(_KEY_AND_USER, {"prefix": parts[1]}).one_or_none()
    if found is None:
        raise errors.NotAuthenticated()
    row, user = found
    if row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _hash(presented)):
        raise errors.NotAuthenticated()
    return user, row


def needs_touch(row: ApiKey) -> bool:
    """Whether the key's last use is due to be recorded (at most once per precision)."""
    return row.last_used_at is None or utcnow() - row.last_used_at > _LAST_USED_PRECISION


def touch(session: Session, key_id: int) -> None:
    """Record that key `key_id` was used now."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))


def list_keys(session: Session, user_id: str | None = None) -> list[tuple[ApiKey, User]]:
    query = select(ApiKey, User).join(User, User.id == ApiKey.user_id).order_by(ApiKey.id)
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    return [(key, user) for key, user in session.execute(query)]


def revoke(session: Session, prefix: str) -> ApiKey:
    if not _is_prefix(prefix):
        raise errors.KeyNotFound()
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    if row is None:
        raise errors.KeyNotFound()
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row
