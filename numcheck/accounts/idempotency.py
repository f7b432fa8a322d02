"""Idempotency-Key on task creation (the IETF httpapi Idempotency-Key draft's rules).

The same key from the same user within 24 hours replays the first response (same task, no new
reservation); the same key with another file or fields is a mismatch; while the first request
is still being handled, others wait with a 409. Keys are scoped to the user.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from numcheck import errors
from numcheck.states import IdempotencyState
from numcheck.storage import db
from numcheck.storage.models import IdempotencyRecord, utcnow
from numcheck.storage.stores import Stores

KEEP_FOR = timedelta(hours=24)
# A request that has held its key this long died with its process: the key is free again.
STALE_AFTER = timedelta(minutes=10)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    fingerprint: str
    response: str


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise errors.InvalidRequest("Idempotency-Key must be 1 to 255 printable characters.")
    return key


def fingerprint(fields: dict[str, str | None], file_sha256: str) -> str:
    """What makes two requests "the same": the file's bytes and the fields that matter."""
    digest = hashlib.sha256()
    for name in sorted(fields):
        digest.update(f"{name}\x00{fields[name] or ''}\x00".encode())
    digest.update(file_sha256.encode())
    return digest.hexdigest()


def begin(stores: Stores, user_id: str, key: str) -> Replay | None:
    """Claim `key` for a new request (None), or the stored first response to replay.

    Commits at once, so that concurrent requests with the same key see the claim.
    """
    now = utcnow()
    try:
        with stores.sessions.begin() as session:
            row = session.get(IdempotencyRecord, (user_id, key))
            if row is not None:
                age = now - row.created_at
                if row.state == IdempotencyState.DONE and age < KEEP_FOR:
                    return Replay(row.fingerprint or "", row.response or "")
                if row.state == IdempotencyState.IN_PROGRESS and age < STALE_AFTER:
                    raise errors.IdempotencyInProgress()
                session.delete(row)
                session.flush()
            session.add(
                IdempotencyRecord(
                    user_id=user_id, key=key, state=IdempotencyState.IN_PROGRESS, created_at=now
                )
            )
    except IntegrityError:  # another request claimed it between our read and our insert
        raise errors.IdempotencyInProgress() from None
    return None


def complete(session: Session, user_id: str, key: str, fingerprint: str, response: str) -> None:
    """Record the response, in the transaction that creates the task."""
    row = session.get_one(IdempotencyRecord, (user_id, key))
    row.state, row.fingerprint, row.response = IdempotencyState.DONE, fingerprint, response


def abandon(stores: Stores, user_id: str, key: str) -> None:
    """The request failed: free the key so that a retry is processed afresh."""
    with stores.sessions.begin() as session:
        row = session.get(IdempotencyRecord, (user_id, key))
        if row is not None and row.state == IdempotencyState.IN_PROGRESS:
            session.delete(row)


def purge_expired(stores: Stores) -> int:
    """Forget keys past their 24 hours (a client sends a fresh key with every submit, so the
    table would grow forever); returns how many went."""
    with stores.sessions.begin() as session:
        return db.rowcount(
            session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - KEEP_FOR)
            )
        )
