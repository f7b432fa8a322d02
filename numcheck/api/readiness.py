"""GET /readyz: may a load balancer send this server traffic? Yes when the database, the broker
(scale-out) and the blob store all answer, each within a few seconds, and the embedded pool's
worker processes have started; otherwise 503 naming what is not. (/healthz stays liveness: it
answers while the process serves.)"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from sqlalchemy import text

from numcheck.dispatch import celery as celery_dispatch
from numcheck.dispatch.sweeper import WorkerState
from numcheck.storage.stores import Stores

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 3.0
# Probes run in threads of their own: one that hangs (a broker behind a dropped firewall) costs
# the probe its timeout, never a worker thread of the server for longer.
_probes = ThreadPoolExecutor(max_workers=6, thread_name_prefix="readyz")


def _database(stores: Stores) -> None:
    with stores.sessions.begin() as session:
        session.execute(text("SELECT 1"))


def _broker(url: str) -> Callable[[], None]:
    return lambda: celery_dispatch.ping(url, TIMEOUT_SECONDS)


def check(stores: Stores, workers: WorkerState) -> dict[str, str]:
    """Each dependency: `ok`, `failed`, or `none` (a broker when none is configured); and the
    state of the server's own workers (`none` in scale-out, `starting` while they start)."""
    broker_url = stores.settings.broker_url
    probes: dict[str, Callable[[], None] | None] = {
        "database": lambda: _database(stores),
        "broker": _broker(broker_url) if broker_url else None,
        "blob_store": stores.blobs.ping,
    }
    running = {name: _probes.submit(probe) for name, probe in probes.items() if probe is not None}
    answers = {name: "none" for name, probe in probes.items() if probe is None}
    for name, future in running.items():
        try:
            future.result(timeout=TIMEOUT_SECONDS + 1)
            answers[name] = "ok"
        except (Exception, FutureTimeout) as exc:
            # The type only: a driver's message may carry a host name or credentials.
            log.warning("not ready: the %s does not answer (%s)", name, type(exc).__name__)
            answers[name] = "failed"
    return {**{name: answers[name] for name in probes}, "workers": workers}
