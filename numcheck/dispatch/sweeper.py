"""The sweeper: a thread that asks the database for due jobs and hands them to a backend.

It wakes every `interval` seconds, or at once on `wake()`; every `housekeeping_interval`
seconds it also runs the periodic clean-up. Backends say how many jobs they can take now
(`capacity`) and how to run one (`submit`); they know nothing of what a job does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(
        self,
        *,
        claim: Callable[[int], list[Any]],
        unclaim: Callable[[Any], None] = lambda job: None,
        housekeeping: Callable[[], None] = lambda: None,
        interval: float = 1.0,
        housekeeping_interval: float = 60.0,
    ) -> None:
        self._claim = claim
        self._unclaim = unclaim
        self._housekeeping = housekeeping
        self._interval = interval
        self._housekeeping_interval = housekeeping_interval
        self._housekeeping_due = 0.0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)

    # -- for backends ---------------------------------------------------------------------------

    def capacity(self) -> int:
        raise NotImplementedError

    def submit(self, job: Any) -> None:
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def wake(self) -> None:
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _dispatch(self, jobs: list[Any]) -> None:
        for sent, job in enumerate(jobs):
            try:
                self.submit(job)
            except Exception as exc:
                # Typically the broker is down: hand the rest back rather than let their leases
                # run out, and try again next round. (The error's type only: no URLs in logs.)
                log.error("sweeper: sending jobs failed (%s); retrying", type(exc).__name__)
                for unsent in jobs[sent:]:
                    self._unclaim(unsent)
                return

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                free = self.capacity()
                if free > 0:
                    self._dispatch(self._claim(free))
            except Exception:
                log.exception("sweeper: dispatching jobs failed; retrying")
            if time.monotonic() >= self._housekeeping_due:
                self._housekeeping_due = time.monotonic() + self._housekeeping_interval
                try:
                    self._housekeeping()
                except Exception:
                    log.exception("sweeper: housekeeping failed; retrying later")
            self._wake.wait(self._interval)
