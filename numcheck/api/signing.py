"""Result links: HMAC-SHA256 over (task, owner, expiry), checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import time

from numcheck import errors


def _mac(secret: bytes, task_id: str, owner_id: str, expires: int) -> str:
    message = f"result\x00{task_id}\x00{owner_id}\x00{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(secret: bytes, task_id: str, owner_id: str, ttl_seconds: int) -> tuple[int, str]:
    """(expires, signature) for a link valid `ttl_seconds` from now."""
    expires = int(time.time()) + ttl_seconds
    return expires, _mac(secret, task_id, owner_id, expires)


def verify(secret: bytes, task_id: str, owner_id: str, expires: str, signature: str) -> None:
    """Raise InvalidSignature unless the link is genuine and unexpired."""
    try:
        expires_at = int(expires)
    except ValueError:
        raise errors.InvalidSignature() from None
    expected = _mac(secret, task_id, owner_id, expires_at)
    if not hmac.compare_digest(expected, signature) or expires_at < time.time():
        raise errors.InvalidSignature()
