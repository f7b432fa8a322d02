"""OpenTelemetry traces, configured by the standard OTEL_* variables and off without them.

`OTEL_TRACES_EXPORTER` names the exporters (`console`, `otlp`: OTLP over HTTP/protobuf, the
exporter numcheck ships; any other installed `opentelemetry_traces_exporter` entry point);
unset or `none`, nothing is configured and every span below is OpenTelemetry's no-op. The
exporters read their own variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, ...), the resource reads
`OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`, the provider `OTEL_TRACES_SAMPLER`.

A task carries the trace context of the request that created it (`carrier`, stored in its row):
its chunks' and its finalize's spans join that trace, in a pool process or a Celery worker.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Any, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

log = logging.getLogger(__name__)

tracer = trace.get_tracer("numcheck")

_enabled = False
_ALIASES = {"otlp": "otlp_proto_http"}  # the one OTLP exporter installed with numcheck


def exporter_names() -> list[str]:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    return [_ALIASES.get(n, n) for n in names if n and n.lower() != "none"]


def configure(default_service_name: str) -> bool:
    """Install a tracer provider with the configured exporters (once per process); False when
    no exporter is configured."""
    global _enabled
    names = exporter_names()
    if _enabled or not names:
        return _enabled
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    defaults = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: default_service_name}
    provider = TracerProvider(resource=Resource.create(defaults))
    provider.sampler = _without_orphan_queries(provider.sampler)  # the OTEL_TRACES_SAMPLER one
    found = {ep.name: ep for ep in entry_points(group="opentelemetry_traces_exporter")}
    for name in names:
        if name not in found:
            raise RuntimeError(f"OTEL_TRACES_EXPORTER: no exporter named {name!r} is installed")
        provider.add_span_processor(BatchSpanProcessor(found[name].load()()))
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


def _without_orphan_queries(sampler: Any) -> Any:
    """`sampler`, except that a client span without a parent is dropped: the database calls of
    the sweeper and the webhook sender's leasing (every second, in no request) would otherwise
    each be a trace of its own."""
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class NoOrphanClientSpans(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: trace.SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            parent = trace.get_current_span(parent_context).get_span_context()
            if kind == trace.SpanKind.CLIENT and not parent.is_valid:
                return SamplingResult(Decision.DROP)
            return sampler.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"NoOrphanClientSpans{{{sampler.get_description()}}}"

    return NoOrphanClientSpans()


def enabled() -> bool:
    return _enabled


def instrument_engine(engine: Any) -> None:
    """Spans for the database calls of `engine` (nothing when tracing is off)."""
    if _enabled:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # The instrumentation declares SQLAlchemy < 2.1; 2.1 keeps the engine events it uses.
        SQLAlchemyInstrumentor().instrument(engine=engine, skip_dep_check=True)


def instrument_celery() -> None:
    """Spans for sending and running Celery messages (nothing when tracing is off)."""
    if _enabled:
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        instrumentor = CeleryInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def stored_context() -> str | None:
    """The current trace context as W3C headers in JSON, to store with a task; None when off."""
    if not _enabled:
        return None
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return json.dumps(headers) if headers else None


def parent_of(stored: str | None) -> dict[str, str] | None:
    return json.loads(stored) if stored else None


P = ParamSpec("P")
R = TypeVar("R")


def traced(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function in a span named `name`."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with span(name):
                return function(*args, **kwargs)

        return wrapper

    return decorate


@contextmanager
def span(name: str, parent: dict[str, str] | None = None, **attributes: Any) -> Iterator[None]:
    """A span named `name`; a child of the stored context `parent` when given."""
    if not _enabled:
        yield
        return
    token = otel_context.attach(propagate.extract(parent)) if parent else None
    try:
        with tracer.start_as_current_span(name, attributes=attributes):
            yield
    finally:
        if token is not None:
            otel_context.detach(token)
