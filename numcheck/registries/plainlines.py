"""Registry lines that are already E.164, found in the file's bytes without a Python string each.

A registry file is mostly lines like `+4915112345678`. For such a line the compiled validator's
vectorized parse (CompiledValidator._describe) answers the line itself as its E.164 when: "+",
then only digits, 4 to 24 characters, a known calling code by its shortest prefix, 2 to 17
national digits, and a first national digit that no national prefix of that calling code starts
with (no prefix to strip). This module applies exactly those steps to rows of bytes; every
other line goes through `describe_lines` as before. The differential test in
tests/unit/registries holds the two equal.
"""

from __future__ import annotations

import numpy as np

from numcheck.numbers.compiled.tables import MAX_NSN, PAD, Tables
from numcheck.registries.hashing import WIDTH

_PLUS, _ZERO = 43, 48
# Per line length: the mask keeping its bytes of a row, as WIDTH // 8 little-endian words.
_KEEP = np.array(
    [np.frombuffer(b"\xff" * n + bytes(WIDTH - n), dtype="<u8") for n in range(WIDTH + 1)]
)
_BYTE_SUM = np.uint64(0x0101010101010101)  # times a word of 0/1 bytes: their sum, top byte
_TOP_BYTE = np.uint64(56)


class PlainLines:
    def __init__(self, tables: Tables) -> None:
        self._cc = np.zeros(1000, dtype=np.int64)
        self._cc_length = np.zeros(1000, dtype=np.int64)
        for digits, (cc, length) in tables.cc_prefix.items():
            self._cc[int(digits)] = cc
            self._cc_length[int(digits)] = length
        self._strip_first = np.zeros((1000, PAD + 1), dtype=bool)
        for cc, first in tables.strip_first_digits.items():
            for digit in first:
                self._strip_first[cc, int(digit)] = True

    def rows(self, block: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The lines [start, start + length) of `block` as zero-padded rows of WIDTH bytes
        (longer lines come out cut: `plain` refuses them by their length)."""
        buffer = np.frombuffer(block + bytes(WIDTH), dtype=np.uint8)
        windows = np.lib.stride_tricks.sliding_window_view(buffer, WIDTH)
        rows: np.ndarray = windows[starts]  # one copy of WIDTH bytes per line
        words = rows.view("<u8")
        words &= _KEEP[np.minimum(lengths, WIDTH)]
        return rows

    def plain(self, rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Which rows `describe_lines` answers with the line itself as E.164, and no reason."""
        n = len(rows)
        # Digits counted a word at a time: all bytes after the "+" are digits when the count
        # is the length less one (padding and "+" are not digits).
        words = ((rows - np.uint8(_ZERO)) < 10).view(np.uint8).view("<u8")  # "0".."9": 1
        with np.errstate(over="ignore"):
            sums = (words * _BYTE_SUM) >> _TOP_BYTE
        counts = (sums[:, 0] + sums[:, 1] + sums[:, 2]).astype(np.int64)
        simple = (rows[:, 0] == _PLUS) & (lengths >= 4) & (lengths <= WIDTH)
        simple &= counts == lengths - 1
        leading = rows[:, 1:4] - np.uint8(_ZERO)
        prefix = leading[:, 0].astype(np.int64) * 100 + leading[:, 1] * 10 + leading[:, 2]
        prefix *= simple
        cc, cc_length = self._cc[prefix], self._cc_length[prefix]
        nsn_length = lengths - 1 - cc_length
        first = rows[np.arange(n), 1 + cc_length].astype(np.int64) - _ZERO
        first = np.where(simple & (nsn_length >= 2), first, 0)  # a digit there
        plain: np.ndarray = (
            simple
            & (cc != 0)
            & (nsn_length >= 2)
            & (nsn_length <= MAX_NSN)
            & ~self._strip_first[cc, first]
        )
        return plain
