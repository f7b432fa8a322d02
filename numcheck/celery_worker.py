"""`numcheck worker`: a Celery worker running the same jobs as the embedded pool. It runs in
the lean process of worker_process.py, which `numcheck worker` becomes once its checks pass."""

from __future__ import annotations

import prometheus_client
from celery.signals import setup_logging, worker_process_init

from numcheck.config import Settings
from numcheck.dispatch import celery as celery_dispatch
from numcheck.logs import configure_logging
from numcheck.states import JobKind
from numcheck.tasks import runner
from numcheck.tasks.jobs import Job
from numcheck.telemetry import exposition


def run(settings: Settings) -> None:
    assert settings.broker_url is not None
    app = celery_dispatch.make_app(settings.broker_url)

    @setup_logging.connect
    def _our_logging(**_: object) -> None:
        # Connected: Celery leaves logging to us, so its records take our format (JSON too).
        configure_logging(settings.log_level, settings.log_format)

    @worker_process_init.connect
    def _open_context(**_: object) -> None:
        # Each prefork child opens its own database connections and blob store.
        runner.init(settings)

    @app.task(name=celery_dispatch.TASK_NAME)
    def run_job(kind: str, task_id: str, idx: int, lease_token: str) -> None:
        # A thin wrapper: the same process_chunk / finalize as the in-process pool (which renew
        # the job's lease while they run). An unknown kind raises here, before anything runs or
        # is handed back; Celery logs the error and acks the message, so it never comes back.
        job = Job(JobKind.parse(kind), task_id, idx, lease_token)
        this_process = runner.runner()
        try:
            this_process.run(job)
        except Exception:
            this_process.leases.hand_back(job, spent=True)  # due again at once, as in the pool
            raise
        this_process.top_up(lambda next_job: celery_dispatch.send(app, next_job))

    if settings.metrics_port:  # the sum of this worker's children, for Prometheus to scrape
        prometheus_client.start_http_server(
            settings.metrics_port, addr=settings.host, registry=exposition.scrape_registry()
        )
    app.worker_main(
        [
            # The banner is printed, not logged: JSON log readers get records only.
            *(["--quiet"] if settings.log_format == "json" else []),
            "worker",
            "--pool=prefork",
            f"--concurrency={settings.workers}",
            f"--queues={celery_dispatch.QUEUE}",
            f"--loglevel={settings.log_level}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
