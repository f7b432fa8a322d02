"""Identifiers: unguessable, in the shapes the wire contract uses."""

from __future__ import annotations

import base64
import secrets
import string

_ALPHANUMERIC = string.ascii_letters + string.digits


def new_task_id() -> str:
    """20 characters of lowercase base32hex from 12 random bytes: an xid's shape, not guessable."""
    return base64.b32hexencode(secrets.token_bytes(12)).decode().rstrip("=").lower()


def new_user_id() -> str:
    """20 random alphanumeric characters (opaque)."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(20))
