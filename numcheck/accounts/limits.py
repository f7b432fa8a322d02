"""Request rate limits: a token bucket per API key.

`MemoryRateLimiter` keeps its buckets in the process (the embedded default: one API process).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from numcheck import errors
from numcheck.storage.models import Task

ACTIVE_RETRY_AFTER = 10  # seconds: a task takes about that long to free its slot


class RateLimiter(Protocol):
    def acquire(self, key: str) -> None:
        """Take one token for `key`; RateLimited (with Retry-After) when the bucket is empty."""
        ...


class MemoryRateLimiter:
    def __init__(self, rate_per_second: float, burst: int) -> None:
        self._rate = rate_per_second
        self._burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated)
        self._lock = threading.Lock()

    def acquire(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, updated = self._buckets.get(key, (float(self._burst), now))
            tokens = min(float(self._burst), tokens + (now - updated) * self._rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                retry_after = max(1, math.ceil((1 - tokens) / self._rate))
                raise errors.RateLimited(
                    retry_after, f"Too many requests; retry in {retry_after} s."
                )
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > 100_000:  # forget idle keys: a full bucket needs no entry
                self._buckets = {
                    k: v for k, v in self._buckets.items() if now - v[1] < self._burst / self._rate
                }


def check_active_tasks(session: Session, user_id: str, limit: int) -> None:
    """TooManyActiveTasks when the user already has `limit` pending or processing tasks."""
    active = session.scalar(
        select(func.count())
        .select_from(Task)
        .where(Task.user_id == user_id, Task.status.in_(("pending", "processing")))
    )
    if active >= limit:
        raise errors.TooManyActiveTasks(
            ACTIVE_RETRY_AFTER,
            f"You have {active} tasks pending or processing (the limit is {limit}); "
            "retry when one has finished.",
        )
