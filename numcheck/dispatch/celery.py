"""The scale-out backend: jobs as Celery messages to `numcheck worker` processes anywhere.

Messages are only wake-ups (docs/design.md): the sweeper leases a job in the database before sending
it, a worker runs the same `process_chunk` / `finalize` as the embedded pool, and a lost,
duplicated or late message never loses or double-counts work — an expired lease is simply
dispatched again. Celery is set for at-least-once delivery: late acks, requeue when a worker
dies, one message prefetched at a time. What recovers the work of a dead worker is its database
lease, which the worker's heartbeat renews while the job runs: a lost worker costs about one
lease, whatever the broker does with its message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from celery import Celery
from kombu import Connection

from numcheck.dispatch.sweeper import WorkerState

log = logging.getLogger(__name__)

TASK_NAME = "numcheck.run_job"
QUEUE = "numcheck"

# Redis hands an unacked message to another worker after this long, even while its job is still
# running (acks are late): a timeout shorter than a job would run that job twice. Lost work is
# the database lease's to recover (seconds), so this need not be short: Celery's own default.
REDIS_VISIBILITY_TIMEOUT_SECONDS = 3600


def make_app(broker_url: str) -> Celery:
    app = Celery("numcheck", broker=broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": REDIS_VISIBILITY_TIMEOUT_SECONDS},
        worker_hijack_root_logger=False,
        # Children log through our own handler to the real stderr, not through a stdout proxy.
        worker_redirect_stdouts=False,
    )
    return app


def ping(broker_url: str, timeout: float) -> None:
    """Raise unless the broker accepts a connection within `timeout` (the readiness probe)."""
    with Connection(broker_url, connect_timeout=timeout) as connection:
        connection.ensure_connection(max_retries=1, timeout=timeout)


class Message(Protocol):
    """What a job looks like to the queue: its fields travel as the message's arguments."""

    @property
    def kind(self) -> str: ...

    @property
    def task_id(self) -> str: ...

    @property
    def idx(self) -> int: ...

    @property
    def lease_token(self) -> str: ...


class CeleryBackend:
    """Sends jobs as Celery messages to `numcheck worker` processes anywhere (scale-out)."""

    def __init__(self, *, app: Celery, ahead: int, in_flight: Callable[[], int]) -> None:
        self._app = app
        self._ahead = ahead
        self._in_flight = in_flight

    def start(self, wake: Callable[[], None]) -> None:
        pass  # the workers' own top-ups keep the queue moving between sweeps

    def stop(self) -> None:
        pass

    def workers(self) -> WorkerState:
        """None of its own: the workers are `numcheck worker` processes, elsewhere."""
        return "none"

    def capacity(self) -> int:
        # Leased but unfinished jobs are in a queue or at a worker: keep a bounded backlog.
        return self._ahead - self._in_flight()

    def submit(self, job: Message) -> None:
        send(self._app, job)


def send(app: Celery, job: Message) -> None:
    """Put a leased job on the queue (the lease token lets its worker prove it still owns it)."""
    app.send_task(TASK_NAME, args=[str(job.kind), job.task_id, job.idx, job.lease_token])
