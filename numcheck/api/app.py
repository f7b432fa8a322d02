"""The FastAPI application and what `numcheck serve` starts with it: stores, sweeper, webhooks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import prometheus_client
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.concurrency import run_in_threadpool

import numcheck
from numcheck import checks
from numcheck.accounts import idempotency, users
from numcheck.api import errors as api_errors
from numcheck.api import openapi
from numcheck.api.access_log import AccessLog
from numcheck.api.connections import SlowBodies
from numcheck.api.docs_pages import DocsPolicy
from numcheck.api.drain import DrainUnreadBody
from numcheck.api.request_ids import RequestIds
from numcheck.api.routes import (
    admin,
    dashboard,
    lookup,
    meta,
    registries,
    results,
    task_results,
    tasks,
)
from numcheck.api.routes import metrics as metrics_route
from numcheck.api.runtime import Runtime
from numcheck.config import Settings
from numcheck.dispatch import celery as celery_dispatch
from numcheck.dispatch.celery import CeleryBackend
from numcheck.dispatch.pool import ProcessPool
from numcheck.dispatch.sweeper import JobBackend, Sweeper
from numcheck.registries import versions as registry_versions
from numcheck.storage import db, secrets
from numcheck.storage.stores import Stores
from numcheck.tasks import catalog, retention, runner, webhooks
from numcheck.tasks.jobs import Job
from numcheck.tasks.leases import Leases
from numcheck.tasks.lifecycle import TaskLifecycle
from numcheck.telemetry import tracing

log = logging.getLogger(__name__)

ADMIN_KEY_FILE = "admin-key.txt"
LINK_SECRET_FILE = "secret.key"


def _bootstrap_admin(stores: Stores) -> None:
    with stores.sessions.begin() as session:
        new_key = users.bootstrap_admin(session)
    if new_key is None:
        return
    path = stores.settings.data_dir.resolve() / ADMIN_KEY_FILE
    # Only to the owner-only file: output and logs end up in journals and log collectors.
    secrets.write_private(path, new_key.plaintext + "\n")
    log.warning("created user 'admin'; its API key is in %s (mode 0600)", path)


def _housekeeping(stores: Stores, lifecycle: TaskLifecycle) -> None:
    """Periodic: retention, unused registry versions, spent idempotency keys, finished webhook
    deliveries, temporary files of dead writers."""
    retention.sweep(stores, lifecycle)
    registry_versions.collect_unused(stores)
    idempotency.purge_expired(stores)
    webhooks.purge_finished(stores, timedelta(days=stores.settings.retention_days))
    stores.blobs.sweep_temporaries(older_than_seconds=3600)


def _start_sweeper(stores: Stores, lifecycle: TaskLifecycle) -> Sweeper[Job]:
    """The sweeper and its backend: the in-process pool (embedded), or Celery (scale-out: the
    `numcheck worker` processes run the jobs, this server only leases and sends them)."""
    settings = stores.settings
    leases = Leases(stores, lifecycle)
    backend: JobBackend[Job]
    if settings.broker_url:
        backend = CeleryBackend(
            app=celery_dispatch.make_app(settings.broker_url),
            ahead=settings.queue_depth or 4 * settings.workers,
            in_flight=leases.in_flight,
        )
    else:
        leases.free_all()  # embedded: no other process can hold a lease
        backend = ProcessPool(
            workers=settings.workers,
            initializer=runner.init,
            initargs=(settings,),
            run=runner.run,
            on_error=lambda job, _error: leases.hand_back(job, spent=True),
            nice=settings.worker_nice,
        )
    sweeper = Sweeper(
        backend,
        leases,
        housekeeping=lambda: _housekeeping(stores, lifecycle),
        housekeeping_interval=settings.housekeeping_interval_seconds,
    )
    sweeper.start()
    return sweeper


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stores = Stores.open(settings)
        tracing.instrument_engine(stores.engine)
        if settings.broker_url:
            tracing.instrument_celery()  # the messages it sends carry the trace
        db.prepare(stores.engine, embedded=settings.embedded_database)
        if not settings.embedded_database:  # a machine set up with another key stops here
            catalog.check_registry_key(stores)
        _bootstrap_admin(stores)
        if settings.embedded_database:
            stores.blobs.sweep_temporaries(older_than_seconds=0)  # nobody else writes here
        link_secret = secrets.load_or_create(settings.data_dir.resolve() / LINK_SECRET_FILE)
        # Build (or check) the compiled validator once here, so workers only read the cache.
        await run_in_threadpool(checks.prepare, settings.validator_cache_dir)
        lifecycle = TaskLifecycle(stores)
        sweeper = _start_sweeper(stores, lifecycle)
        sender = webhooks.WebhookSender(stores)
        sender.start()
        app.state.runtime = runtime = Runtime.start(stores, link_secret, lifecycle, sweeper)
        metrics_server = None
        if settings.metrics_port:  # Prometheus scrapes a port of its own, without a token
            metrics_server, _ = prometheus_client.start_http_server(
                settings.metrics_port, addr=settings.host, registry=runtime.metrics
            )
        log.info(
            "numcheck %s ready; data dir %s", numcheck.__version__, settings.data_dir.resolve()
        )
        try:
            yield
        finally:
            if metrics_server is not None:
                metrics_server.shutdown()
            sender.stop()
            sweeper.stop()
            stores.close()

    # /docs and /redoc with Swagger UI and ReDoc served from this server (fastapi-offline's
    # bundled copies), never from a CDN: they work on a network without the internet.
    app = FastAPIOffline(
        title="numcheck",
        version=numcheck.__version__,
        description="Bulk phone-number verification: upload a file, poll, download a zip.",
        lifespan=lifespan,
    )
    if tracing.configure("numcheck"):  # OTEL_TRACES_EXPORTER set: a span per request
        FastAPIInstrumentor.instrument_app(app)
    api_errors.install(app)
    openapi.install(app)
    app.include_router(tasks.router)
    app.include_router(task_results.router)
    app.include_router(lookup.router)
    app.include_router(meta.router)
    app.include_router(results.router)
    app.include_router(registries.router)
    app.include_router(admin.router)
    app.include_router(dashboard.router)
    app.include_router(metrics_route.router)
    app.add_middleware(DocsPolicy)
    app.add_middleware(api_errors.UnexpectedErrors)  # inside the drain: a 500 is drained too
    app.add_middleware(DrainUnreadBody)
    app.add_middleware(
        SlowBodies, pause=settings.body_timeout_seconds, min_rate=settings.min_body_bytes_per_second
    )
    app.add_middleware(AccessLog)  # and the HTTP metrics, in the same step
    app.add_middleware(RequestIds)  # outermost: the access log and every record carry the id
    return app
