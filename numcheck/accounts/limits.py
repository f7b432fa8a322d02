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


# One bucket per key in a Redis hash; Redis's own clock, so every API server agrees.
_TOKEN_BUCKET = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, tostring(tokens)}
"""


class RedisRateLimiter:
    """The same token bucket, shared by every API server through Redis (scale-out)."""

    def __init__(self, url: str, rate_per_second: float, burst: int) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5)
        self._script = self._redis.register_script(_TOKEN_BUCKET)
        self._rate = rate_per_second
        self._burst = burst

    def acquire(self, key: str) -> None:
        allowed, tokens = self._script(
            keys=[f"numcheck:rate:{key}"], args=[self._rate, self._burst]
        )
        if not int(allowed):
            retry_after = max(1, math.ceil((1 - float(tokens)) / self._rate))
            raise errors.RateLimited(retry_after, f"Too many requests; retry in {retry_after} s.")
