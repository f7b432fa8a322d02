"""Digests spooled to anonymous temporary files by their top bits, sorted bucket by bucket.

Keyed digests are uniform, so 16 buckets by the top 4 bits each hold about a sixteenth of the
entries: sorting and de-duplicating one bucket at a time needs memory for a sixteenth of the
load, not for all of it, and the sorted buckets, read in order, are the whole sorted array.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

BUCKET_BITS = 4
BUCKETS = 1 << BUCKET_BITS
_SHIFT = np.uint64(64 - BUCKET_BITS)


def bucket_bounds(digests: np.ndarray) -> np.ndarray:
    """Where each bucket starts and ends in a sorted digest array (BUCKETS + 1 offsets)."""
    firsts = np.arange(BUCKETS, dtype=np.uint64) << _SHIFT
    return np.append(np.searchsorted(digests, firsts), len(digests))


def distinct_sorted(digests: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array, in order."""
    if len(digests) == 0:
        return digests
    keep = np.empty(len(digests), dtype=bool)
    keep[0] = True
    np.not_equal(digests[1:], digests[:-1], out=keep[1:])
    return digests[keep]


class DigestSpool:
    """Digests only, never numbers; the files vanish when closed (or when the process dies)."""

    def __init__(self) -> None:
        self._files: list[BinaryIO | None] = [None] * BUCKETS
        self.added = 0  # digests added, duplicates included
        self.distinct = 0  # after `sort`

    def add(self, digests: np.ndarray) -> None:
        if len(digests) == 0:
            return
        self.added += len(digests)
        top = (digests >> _SHIFT).astype(np.uint8)
        grouped = digests[np.argsort(top, kind="stable")]  # a radix sort for 8-bit keys
        ends = np.cumsum(np.bincount(top, minlength=BUCKETS)).tolist()
        start = 0
        for bucket, end in enumerate(ends):
            if end > start:
                self._file(bucket).write(np.ascontiguousarray(grouped[start:end]).data)
            start = end

    def _file(self, bucket: int) -> BinaryIO:
        handle = self._files[bucket]
        if handle is None:
            handle = self._files[bucket] = tempfile.TemporaryFile()  # noqa: SIM115
        return handle

    def sort(self) -> None:
        """Sort and de-duplicate each bucket in its file."""
        self.distinct = 0
        for handle in self._files:
            if handle is None:
                continue
            handle.seek(0)
            digests = np.fromfile(handle, dtype="<u8")
            digests.sort()
            digests = distinct_sorted(digests)
            handle.seek(0)
            handle.truncate()
            handle.write(digests.data)
            self.distinct += len(digests)

    def buckets(self) -> Iterator[np.ndarray]:
        """Each bucket's digests (sorted and distinct after `sort`), in bucket order."""
        for handle in self._files:
            if handle is None:
                yield np.zeros(0, dtype="<u8")
                continue
            handle.seek(0)
            yield np.fromfile(handle, dtype="<u8")

    def close(self) -> None:
        for handle in self._files:
            if handle is not None:
                handle.close()
        self._files = [None] * BUCKETS
