"""What the API process holds while it runs: stores, the link secret, the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from numcheck.accounts.limits import MemoryRateLimiter, RateLimiter
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
    dispatcher: Waker = _NoDispatcher()

    @classmethod
    def embedded(cls, stores: Stores, link_secret: bytes, dispatcher: Waker) -> Runtime:
        settings = stores.settings
        limiter = MemoryRateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        return cls(
            stores=stores, link_secret=link_secret, rate_limiter=limiter, dispatcher=dispatcher
        )
