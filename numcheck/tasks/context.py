"""What one process holds to run task jobs, opened once: its stores, the task lifecycle, and
the checks stored tasks run (registry snapshots mapped once per process)."""

from __future__ import annotations

from dataclasses import dataclass

from numcheck.config import Settings
from numcheck.storage.stores import Stores
from numcheck.tasks.catalog import TaskChecks
from numcheck.tasks.lifecycle import TaskLifecycle


@dataclass
class WorkerContext:
    stores: Stores
    lifecycle: TaskLifecycle
    checks: TaskChecks

    @classmethod
    def of(cls, stores: Stores) -> WorkerContext:
        return cls(stores=stores, lifecycle=TaskLifecycle(stores), checks=TaskChecks(stores))

    @classmethod
    def open(cls, settings: Settings) -> WorkerContext:
        return cls.of(Stores.open(settings))
