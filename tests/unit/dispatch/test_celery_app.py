"""The Celery app's delivery settings: no redelivery of a job that is still running."""

from __future__ import annotations

from numcheck.dispatch.celery import make_app


def test_redis_never_redelivers_a_message_whose_job_is_still_running() -> None:
    # With late acks, Redis hands an unacked message to another worker after the visibility
    # timeout. Tied to the lease (4 x 20 s) it would run any job of over 80 s twice; lost work is
    # the database lease's to recover, so the timeout is far longer than any job (an hour).
    app = make_app("redis://127.0.0.1:6379/0")
    assert app.conf.broker_transport_options["visibility_timeout"] >= 3600
