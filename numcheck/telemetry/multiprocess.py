"""prometheus-client's multiprocess mode for the server and its worker processes.

The embedded pool's processes and a `numcheck worker`'s Celery children count chunks, lines and
leases in their own memory; in multiprocess mode each writes its counters to a file of a shared
directory, and a scrape sums them. prometheus-client reads PROMETHEUS_MULTIPROC_DIR once, when
it is first imported, so `prepare` must run before anything imports `numcheck.telemetry.metrics`
(children inherit the variable: spawned pool processes and forked Celery children alike).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare() -> Path:
    """Use the operator's PROMETHEUS_MULTIPROC_DIR, emptied of a previous run's files, or a
    private temporary directory removed at exit."""
    given = os.environ.get(ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):  # counters of a previous run would add up again
            stale.unlink()
        return directory
    directory = Path(tempfile.mkdtemp(prefix="numcheck-metrics-"))
    os.environ[ENV] = str(directory)
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def enabled() -> bool:
    return bool(os.environ.get(ENV))
