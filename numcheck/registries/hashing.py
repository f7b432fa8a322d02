"""Keyed 8-byte digests of E.164 numbers, as unsigned 64-bit integers.

Two digests exist. `siphash-2-4` (current): SipHash-2-4 of the number's ASCII, zero-padded to
24 bytes, under a 16-byte key derived from the registry key; numpy hashes a whole batch at once.
`blake2b-64` (versions loaded before it): keyed BLAKE2b, 8 bytes, one number at a time. A
registry version records which one hashed it, and is always queried with that one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from numcheck.registries.siphash import siphash24

DIGEST_BYTES = 8
KEY_CHECK_MESSAGE = b"numcheck registry key check"
SIPHASH = "siphash-2-4"
BLAKE2B = "blake2b-64"
DIGESTS = (SIPHASH, BLAKE2B)
WIDTH = 24  # bytes a number is padded to: "+", up to 3 calling-code and 17 national digits
_SIP_KEY_MESSAGE = b"numcheck registry siphash-2-4 key"


class KeyedHasher:
    """Digests under one registry key, with the digest `digest` (SIPHASH unless told)."""

    def __init__(self, key: bytes, digest: str = SIPHASH) -> None:
        if not 16 <= len(key) <= 64:
            raise ValueError("a registry key has 16 to 64 bytes")
        if digest not in DIGESTS:
            raise ValueError(f"unknown registry digest {digest!r}")
        self._key = key
        self.digest = digest
        self._keyed = hashlib.blake2b(key=key, digest_size=DIGEST_BYTES)
        # SipHash's key: a MAC of a constant under the registry key, so secret as that key is.
        self._sip_key = hashlib.blake2b(_SIP_KEY_MESSAGE, key=key, digest_size=16).digest()
        # A MAC of a constant: tells which key hashed a registry version, revealing nothing of it.
        self.key_check = hashlib.blake2b(KEY_CHECK_MESSAGE, key=key, digest_size=8).hexdigest()

    def with_digest(self, digest: str) -> KeyedHasher:
        """The same key, hashing with `digest` (the one a registry version was hashed with)."""
        return self if digest == self.digest else KeyedHasher(self._key, digest)

    def digests(self, numbers: Sequence[str]) -> np.ndarray:
        """The digests of E.164 strings, in order, as a uint64 array."""
        if self.digest == SIPHASH:
            return self.digests_of_rows(padded_rows(numbers))
        copy = self._keyed.copy
        out = bytearray()
        for number in numbers:
            hasher = copy()  # copying a keyed state skips the key schedule per number
            hasher.update(number.encode())
            out += hasher.digest()
        return np.frombuffer(bytes(out), dtype="<u8")

    def digests_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """The digests of numbers given as rows of WIDTH bytes (ASCII, zero-padded)."""
        if self.digest != SIPHASH:
            texts = [bytes(row).rstrip(b"\0").decode() for row in rows]
            return self.digests(texts)
        words = np.ascontiguousarray(rows, dtype=np.uint8).view("<u8")
        return siphash24(self._sip_key, words.reshape(len(rows), WIDTH // 8))


def padded_rows(numbers: Sequence[str]) -> np.ndarray:
    """E.164 strings as rows of WIDTH bytes, zero-padded: an injective encoding (no number holds
    a NUL byte), so distinct numbers stay distinct messages."""
    # numpy encodes (ASCII, UnicodeEncodeError otherwise) and pads with NULs in one pass; one
    # byte more than WIDTH shows a longer string, which it would cut silently.
    wide = np.array(numbers, dtype=f"S{WIDTH + 1}").view(np.uint8).reshape(len(numbers), WIDTH + 1)
    if wide[:, WIDTH].any():
        raise ValueError("an E.164 number has at most 24 characters")
    return np.ascontiguousarray(wide[:, :WIDTH])
