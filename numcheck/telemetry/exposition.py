"""The registry a scrape reads: this process's metrics, or, in multiprocess mode, the sum of
every process's files, plus any collector the caller adds (the API's database gauges)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Metric, multiprocess
from prometheus_client.registry import Collector

from numcheck.telemetry import metrics  # noqa: F401 (every family registered before a scrape)
from numcheck.telemetry import multiprocess as multiprocess_dir


class _Default(Collector):
    """The process-global registry, seen through another registry (one per app in tests)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry(*extra: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir.enabled():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Default())
    for collector in extra:
        registry.register(collector)
    return registry
