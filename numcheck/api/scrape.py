"""What a Prometheus scrape of the API server reads: every process's counters (the server's
and, in the embedded default, its pool's) and gauges read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from numcheck.accounts.limits import RateLimiter
from numcheck.services import metrics as db_metrics
from numcheck.states import ACTIVE, TERMINAL
from numcheck.storage.models import utcnow
from numcheck.storage.stores import Stores
from numcheck.telemetry import exposition


class DatabaseCollector(Collector):
    """Gauges of the shared state: every API server reports the same values (take the max)."""

    def __init__(self, stores: Stores, limiter: RateLimiter) -> None:
        self._stores = stores
        self._limiter = limiter

    def collect(self) -> Iterable[Metric]:
        with self._stores.sessions.begin() as session:
            found = db_metrics.database_metrics(session, utcnow())
        tasks = GaugeMetricFamily("numcheck_tasks", "Tasks by status.", labels=["status"])
        for status in sorted(ACTIVE | TERMINAL):
            tasks.add_metric([str(status)], found.tasks_by_status.get(str(status), 0))
        yield tasks
        queue = GaugeMetricFamily(
            "numcheck_queue_chunks",
            "Pending chunks of active tasks: due (waiting for a worker) or leased (at one).",
            labels=["state"],
        )
        queue.add_metric(["due"], found.chunks_due)
        queue.add_metric(["leased"], found.chunks_leased)
        yield queue
        yield GaugeMetricFamily(
            "numcheck_queue_oldest_due_seconds",
            "How long the longest-waiting due chunk has waited (0: none waits).",
            value=found.oldest_due_seconds,
        )
        entries = GaugeMetricFamily(
            "numcheck_registry_entries",
            "Entries of each registry's current version.",
            labels=["registry"],
        )
        versions = GaugeMetricFamily(
            "numcheck_registry_version",
            "Each registry's current version number.",
            labels=["registry"],
        )
        for registry in found.registries:
            entries.add_metric([registry.name], registry.entries)
            versions.add_metric([registry.name], registry.version)
        yield entries
        yield versions
        yield CounterMetricFamily(
            "numcheck_rate_limiter_failures",
            "Requests served unlimited because the rate limiter's Redis failed (this server).",
            value=self._limiter.failures,
        )
        yield GaugeMetricFamily(
            "numcheck_rate_limiter_degraded",
            "1 while this server's rate limiter cannot reach its Redis and lets requests through.",
            value=1 if self._limiter.degraded else 0,
        )


def registry(stores: Stores, limiter: RateLimiter) -> CollectorRegistry:
    return exposition.scrape_registry(DatabaseCollector(stores, limiter))
