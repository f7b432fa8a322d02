"""A registry version on disk: a sorted little-endian uint64 array, memory-mapped, queried in
bulk."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from threading import Lock

import numpy as np

_PIECE = 32_768  # queries searched together: their index arrays stay in the CPU cache
_PER_BUCKET = 32  # entries per directory bucket, on average


class Snapshot:
    def __init__(self, digests: np.ndarray) -> None:
        self._digests = digests
        self._index: tuple[np.ndarray, np.uint64, int] | None = None

    @classmethod
    def open(cls, path: Path) -> Snapshot:
        if path.stat().st_size == 0:
            return cls(np.zeros(0, dtype="<u8"))
        return cls(np.memmap(path, dtype="<u8", mode="r"))

    def __len__(self) -> int:
        return len(self._digests)

    def _directory(self) -> tuple[np.ndarray, np.uint64, int]:
        """Where each bucket of digests by their top k bits starts (about 32 entries a
        bucket, so 1/64 of the snapshot's size), the shift to a bucket, and how many halvings
        find a digest within the largest bucket. Built once per process and version."""
        if self._index is None:
            digests = self._digests
            bits = max(1, min(24, (len(digests) // _PER_BUCKET).bit_length() - 1))
            shift = np.uint64(64 - bits)
            firsts = np.arange(1 << bits, dtype=np.uint64) << shift
            offsets = np.append(np.searchsorted(digests, firsts), len(digests))
            steps = int(np.diff(offsets).max()).bit_length()
            small = np.uint32 if len(digests) < 2**32 else np.int64
            self._index = (offsets.astype(small), shift, steps)
        return self._index

    def contains(self, queries: np.ndarray) -> np.ndarray:
        """Membership of each query digest, in vectorized passes.

        Digests are uniform, so a query's top bits name a bucket of ~32 entries (the
        directory) and a few halvings of that bucket, all queries at once, find it or not:
        two or three cache misses a query instead of a binary search over the whole table.
        """
        digests = self._digests
        if len(digests) == 0 or len(queries) == 0:
            return np.zeros(len(queries), dtype=bool)
        offsets, shift, steps = self._directory()
        found = np.empty(len(queries), dtype=bool)
        for at in range(0, len(queries), _PIECE):
            piece = np.asarray(queries[at : at + _PIECE], dtype=np.uint64)
            bucket = (piece >> shift).astype(np.intp)
            # Below lo: digests < query; from hi: digests >= query (within the bucket).
            lo = offsets[bucket].astype(np.int64)
            hi = offsets[bucket + 1].astype(np.int64)
            for _ in range(steps):
                mid = (lo + hi) >> 1
                below = np.take(digests, mid, mode="clip") < piece
                np.copyto(lo, mid + 1, where=below)
                np.copyto(hi, mid, where=~below)
            # lo == hi: the first digest >= query (or the next bucket's first, or the end).
            found[at : at + len(piece)] = np.take(digests, lo, mode="clip") == piece
        return found


class SnapshotCache:
    """Versions mapped by this process, reused across chunks and tasks (a few at most)."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._open: OrderedDict[int, Snapshot] = OrderedDict()
        self._lock = Lock()

    def get(self, version_id: int, path: Path) -> Snapshot:
        with self._lock:
            snapshot = self._open.get(version_id)
            if snapshot is None:
                snapshot = self._open[version_id] = Snapshot.open(path)
                while len(self._open) > self._size:
                    self._open.popitem(last=False)
            self._open.move_to_end(version_id)
            return snapshot
