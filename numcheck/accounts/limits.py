"""Request rate limits: a token bucket per API key.

`MemoryRateLimiter` keeps its buckets in the process (the embedded default: one API process).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from numcheck import errors
from numcheck.states import ACTIVE
from numcheck.storage.models import Task, User

log = logging.getLogger(__name__)

ACTIVE_RETRY_AFTER = 10  # seconds: a task takes about that long to free its slot


class RateLimiter(Protocol):
    def acquire(self, key: str) -> None:
        """Take one token for `key`; RateLimited (with Retry-After) when the bucket is empty."""
        ...

    @property
    def degraded(self) -> bool:
        """True while the limiter cannot keep its state and lets every request through."""
        ...

    @property
    def failures(self) -> int:
        """Requests let through unlimited because the limiter's store failed, since start."""
        ...


class MemoryRateLimiter:
    degraded = False  # its state is this process's memory: it cannot fail
    failures = 0

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


class UploadSlots:
    """How many uploads each API key is streaming in this process: an upload holds disk and a
    core while it streams, so a key may hold only `per_key` at once (the rate limit alone would
    allow a hundred 512 MiB uploads)."""

    RETRY_AFTER = 1

    def __init__(self, per_key: int) -> None:
        self._per_key = per_key
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold one of `key`'s slots while the body runs; TooManyUploads when none is free."""
        with self._lock:
            held = self._held.get(key, 0)
            if held >= self._per_key:
                raise errors.TooManyUploads(
                    self.RETRY_AFTER,
                    f"This API key already has {held} uploads in flight (the limit is "
                    f"{self._per_key}); retry when one has finished.",
                )
            self._held[key] = held + 1
        try:
            yield
        finally:
            with self._lock:
                self._held[key] -= 1
                if not self._held[key]:
                    del self._held[key]


def check_active_tasks(session: Session, user_id: str, limit: int) -> None:
    """TooManyActiveTasks when the user already has `limit` pending or processing tasks.

    The user's row is locked first and stays locked until the caller commits the new task, so
    parallel creates count one after another (PostgreSQL; SQLite's writers are serialized).
    """
    session.execute(select(User.id).where(User.id == user_id).with_for_update())
    active = (
        session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.user_id == user_id, Task.status.in_(ACTIVE))
        )
        or 0
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
    """The same token bucket, shared by every API server through Redis (scale-out).

    When Redis cannot be reached the limiter fails open, as well-run services do: requests are
    served unlimited (a warning is logged, the failure counted, /healthz says "degraded"), and
    Redis is asked again after RETRY_SECONDS rather than on every request.
    """

    RETRY_SECONDS = 5.0
    TIMEOUT_SECONDS = 0.5  # Redis answers in a millisecond; a slow one must not slow every call

    def __init__(self, url: str, rate_per_second: float, burst: int) -> None:
        import redis

        self._redis = redis.Redis.from_url(
            url, socket_timeout=self.TIMEOUT_SECONDS, socket_connect_timeout=self.TIMEOUT_SECONDS
        )
        self._script = self._redis.register_script(_TOKEN_BUCKET)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._rate = rate_per_second
        self._burst = burst
        self._lock = threading.Lock()
        self._open_until = 0.0  # while in the future: Redis failed lately, let requests through
        self._failures = 0

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self._open_until

    @property
    def failures(self) -> int:
        return self._failures

    def acquire(self, key: str) -> None:
        if self.degraded:
            self._let_through()
            return
        try:
            allowed, tokens = self._script(
                keys=[f"numcheck:rate:{key}"], args=[self._rate, self._burst]
            )
        except self._errors as exc:
            with self._lock:
                self._open_until = time.monotonic() + self.RETRY_SECONDS
            log.warning(
                "rate limiter: Redis failed (%s); serving requests unlimited for %.0f s",
                type(exc).__name__,
                self.RETRY_SECONDS,
            )
            self._let_through()
            return
        if not int(allowed):
            retry_after = max(1, math.ceil((1 - float(tokens)) / self._rate))
            raise errors.RateLimited(retry_after, f"Too many requests; retry in {retry_after} s.")

    def _let_through(self) -> None:
        with self._lock:
            self._failures += 1
