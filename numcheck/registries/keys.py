"""The registry key: hashes of every registry are keyed with it, so digests alone reveal nothing."""

from __future__ import annotations

from numcheck.config import Settings
from numcheck.storage import secrets

KEY_FILE = "registry.key"


def registry_key(settings: Settings) -> bytes:
    if settings.registry_key is not None:
        try:
            key = bytes.fromhex(settings.registry_key.get_secret_value())
        except ValueError:
            raise ValueError("NUMCHECK_REGISTRY_KEY must be hexadecimal") from None
        if not 16 <= len(key) <= 64:
            raise ValueError("NUMCHECK_REGISTRY_KEY must be 32 to 128 hex digits")
        return key
    return secrets.load_or_create(settings.data_dir.resolve() / KEY_FILE)
