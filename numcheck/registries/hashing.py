"""Keyed BLAKE2b digests of E.164 numbers, 8 bytes each, as unsigned 64-bit integers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

DIGEST_BYTES = 8
KEY_CHECK_MESSAGE = b"numcheck registry key check"


class KeyedHasher:
    def __init__(self, key: bytes) -> None:
        if not 16 <= len(key) <= 64:
            raise ValueError("a registry key has 16 to 64 bytes")
        self._keyed = hashlib.blake2b(key=key, digest_size=DIGEST_BYTES)
        # A MAC of a constant: tells which key hashed a registry version, revealing nothing of it.
        self.key_check = hashlib.blake2b(KEY_CHECK_MESSAGE, key=key, digest_size=8).hexdigest()

    def digests(self, numbers: Iterable[str]) -> np.ndarray:
        """The digests of E.164 strings, in order, as a uint64 array."""
        copy = self._keyed.copy
        out = bytearray()
        for number in numbers:
            hasher = copy()  # copying a keyed state skips the key schedule per number
            hasher.update(number.encode())
            out += hasher.digest()
        return np.frombuffer(bytes(out), dtype="<u8")
