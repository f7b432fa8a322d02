"""What the API process holds while it runs: stores, the link secret, the task lifecycle, the
sweeper to wake for new work, and the request limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from anyio import CapacityLimiter
from prometheus_client import CollectorRegistry

from numcheck.accounts.limits import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    UploadSlots,
)
from numcheck.api import scrape
from numcheck.dispatch.sweeper import WorkerState
from numcheck.services.lookup import Lookups
from numcheck.storage.stores import Stores
from numcheck.tasks.lifecycle import TaskLifecycle


class Waker(Protocol):
    def wake(self) -> None: ...

    def workers(self) -> WorkerState: ...


@dataclass
class Runtime:
    stores: Stores
    link_secret: bytes
    lifecycle: TaskLifecycle
    sweeper: Waker
    rate_limiter: RateLimiter
    upload_slots: UploadSlots
    lookups: Lookups
    metrics: CollectorRegistry  # what GET /metrics (or the metrics port) renders
    # The status calls' own share of the thread pool (config.status_read_threads).
    status_reads: CapacityLimiter

    @classmethod
    def start(
        cls, stores: Stores, link_secret: bytes, lifecycle: TaskLifecycle, sweeper: Waker
    ) -> Runtime:
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
            lifecycle=lifecycle,
            sweeper=sweeper,
            rate_limiter=limiter,
            upload_slots=UploadSlots(settings.max_uploads_in_flight),
            lookups=Lookups(stores),
            metrics=scrape.registry(stores, limiter),
            status_reads=CapacityLimiter(settings.status_read_threads),
        )
