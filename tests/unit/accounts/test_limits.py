"""Request limits: the token bucket per key, uploads in flight per key, and a Redis-backed
bucket that fails open when its Redis is unreachable."""

from __future__ import annotations

import socket
import time

import pytest

from numcheck import errors
from numcheck.accounts.limits import MemoryRateLimiter, RedisRateLimiter, UploadSlots


def test_a_burst_then_refusals_with_retry_after_then_refill() -> None:
    limiter = MemoryRateLimiter(rate_per_second=10, burst=3)
    for _ in range(3):
        limiter.acquire("key")
    with pytest.raises(errors.RateLimited) as refused:
        limiter.acquire("key")
    assert refused.value.retry_after == 1
    limiter.acquire("other-key")  # buckets are per key
    time.sleep(0.15)  # 10 a second: one token back
    limiter.acquire("key")


def test_upload_slots_are_per_key_and_given_back() -> None:
    slots = UploadSlots(per_key=2)
    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(errors.TooManyUploads) as refused, slots.hold("a"):
            pass
        assert refused.value.code == "too_many_uploads" and refused.value.retry_after >= 1
        with slots.hold("b"):  # another key is not held back
            pass
    with slots.hold("a"), slots.hold("a"):  # both given back, also after an error
        pass
    with pytest.raises(RuntimeError), slots.hold("a"):
        raise RuntimeError("the upload failed")
    with slots.hold("a"), slots.hold("a"):
        pass


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_redis_limiter_whose_redis_is_unreachable_fails_open() -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{closed_port()}/0", rate_per_second=1, burst=1)
    assert not limiter.degraded
    for _ in range(5):  # far over the limit: all served while Redis is down
        limiter.acquire("key")
    assert limiter.degraded
    assert limiter.failures == 5
