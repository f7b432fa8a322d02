"""A worker gives a finished job's memory back: what a chunk allocated and freed does not stay
resident until the process ends (bench/memory.py measures whole workers)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from numcheck.tasks import runner

CODE = """
from numcheck.tasks import runner

def rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024

kept = []
freed = [bytes(2000) for _ in range(100_000)]  # ~200 MiB in the C heap, as a chunk's rows
kept = freed[::200]  # a few survivors pin the heap's top: it cannot simply shrink
del freed
before = rss()
runner.release_memory()
print(before, rss())
"""


def test_release_memory_returns_freed_heap_to_the_system() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    before, after = map(int, out.stdout.split())
    assert before - after > 100, (before, after)


def test_memory_is_given_back_once_the_worker_is_idle_not_between_jobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    released = threading.Event()
    monkeypatch.setattr(runner, "release_memory", released.set)
    idle = runner.IdleRelease(seconds=0.2)
    idle.schedule()  # a job ended...
    idle.cancel()  # ...and the next began at once: nothing given back
    assert not released.wait(0.5)
    idle.schedule()  # the last job ended
    assert released.wait(5)
