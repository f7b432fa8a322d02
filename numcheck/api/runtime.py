"""What the API process holds while it runs: stores, the link secret, the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from numcheck.accounts.limits import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    UploadSlots,
)
from numcheck.storage.stores import Stores


class Waker(Protocol):
    def wake(self) -> None: ...


class _NoDispatcher:
    def wake(self) -> None:
        pass


@dataclass
class Runtime:
    stores: Stores
    link_secret: bytes
    rate_limiter: RateLimiter
    upload_slots: UploadSlots
    dispatcher: Waker = field(default_factory=_NoDispatcher)

    @classmethod
    def start(cls, stores: Stores, link_secret: bytes, dispatcher: Waker) -> Runtime:
        settings = stores.settings
        limiter: RateLimiter
        if settings.rate_limit_redis_url:  # scale-out: one bucket per key across all servers
            limiter = RedisRateLimiter(
                settings.rate_limit_redis_url,
                settings.rate_limit_per_second,
                settings.rate_limit_burst,
            )
        else:
            limiter = MemoryRateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        return cls(
            stores=stores,
            link_secret=link_secret,
            rate_limiter=limiter,
            upload_slots=UploadSlots(settings.max_uploads_in_flight),
            dispatcher=dispatcher,
        )
