"""A registry version on disk: a sorted little-endian uint64 array, memory-mapped, queried in
bulk."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from threading import Lock

import numpy as np


class Snapshot:
    def __init__(self, digests: np.ndarray) -> None:
        self._digests = digests

    @classmethod
    def open(cls, path: Path) -> Snapshot:
        if path.stat().st_size == 0:
            return cls(np.zeros(0, dtype="<u8"))
        return cls(np.memmap(path, dtype="<u8", mode="r"))

    def __len__(self) -> int:
        return len(self._digests)

    def contains(self, queries: np.ndarray) -> np.ndarray:
        """Membership of each query digest, in one vectorized pass."""
        if len(self._digests) == 0 or len(queries) == 0:
            return np.zeros(len(queries), dtype=bool)
        # Sorted queries walk the table in order: far fewer cache misses than random probes.
        order = np.argsort(queries, kind="stable")
        ordered = queries[order]
        at = np.searchsorted(self._digests, ordered)
        found_sorted = self._digests[np.minimum(at, len(self._digests) - 1)] == ordered
        found = np.empty(len(queries), dtype=bool)
        found[order] = found_sorted
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
