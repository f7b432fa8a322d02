"""SipHash-2-4 (Aumasson & Bernstein, 2012) over many equal-length messages at once, with numpy.

SipHash is a pseudorandom function keyed with 128 bits, made for short inputs: without the key,
its outputs cannot be told from random ones nor turned back into their inputs. Every message
here is the same number of 64-bit words, so one pass of whole-array operations hashes a batch;
arrays are cut into pieces that stay in the CPU cache while the ~260 operations run on them.
"""

from __future__ import annotations

import numpy as np

_U64 = np.uint64
_PIECE = 16_384  # rows hashed together: four 128 KiB state arrays fit in L2
_INIT = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)


def siphash24(key: bytes, words: np.ndarray) -> np.ndarray:
    """SipHash-2-4 of each row of `words` (n by m little-endian uint64: messages of 8*m bytes)
    under the 16-byte `key`, as uint64 (the reference's 8 output bytes, little-endian)."""
    if len(key) != 16:
        raise ValueError("SipHash takes a 16-byte key")
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:], "little")
    words = np.asarray(words, dtype="<u8")
    out = np.empty(len(words), dtype=_U64)
    with np.errstate(over="ignore"):
        for start in range(0, len(words), _PIECE):
            piece = words[start : start + _PIECE]
            out[start : start + len(piece)] = _hash_piece(k0, k1, piece)
    return out


def _hash_piece(k0: int, k1: int, words: np.ndarray) -> np.ndarray:
    n, m = words.shape
    v0 = np.full(n, k0 ^ _INIT[0], dtype=_U64)
    v1 = np.full(n, k1 ^ _INIT[1], dtype=_U64)
    v2 = np.full(n, k0 ^ _INIT[2], dtype=_U64)
    v3 = np.full(n, k1 ^ _INIT[3], dtype=_U64)
    spare = np.empty(n, dtype=_U64)
    state = (v0, v1, v2, v3, spare)
    for j in range(m):
        word = np.ascontiguousarray(words[:, j])
        v3 ^= word
        _round(*state)
        _round(*state)
        v0 ^= word
    last = _U64(((8 * m) & 0xFF) << 56)  # the length byte; no tail: whole words only
    v3 ^= last
    _round(*state)
    _round(*state)
    v0 ^= last
    v2 ^= _U64(0xFF)
    for _ in range(4):
        _round(*state)
    v0 ^= v1
    v0 ^= v2
    v0 ^= v3
    return v0


def _rotl(x: np.ndarray, bits: int, spare: np.ndarray) -> None:
    np.right_shift(x, _U64(64 - bits), out=spare)
    np.left_shift(x, _U64(bits), out=x)
    np.bitwise_or(x, spare, out=x)


def _round(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray, v3: np.ndarray, t: np.ndarray) -> None:
    """One SipRound, in place."""
    v0 += v1
    _rotl(v1, 13, t)
    v1 ^= v0
    _rotl(v0, 32, t)
    v2 += v3
    _rotl(v3, 16, t)
    v3 ^= v2
    v0 += v3
    _rotl(v3, 21, t)
    v3 ^= v0
    v2 += v1
    _rotl(v1, 17, t)
    v1 ^= v2
    _rotl(v2, 32, t)
