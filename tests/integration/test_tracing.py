"""OpenTelemetry from the OTEL_* variables: a server exporting OTLP to a collector of the test's
own, where a chunk's span is found in the trace of the POST /v1/tasks that created its task —
in the embedded pool and in a Celery worker."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.helpers import Server, broker, free_port, fresh_postgres, numcheck_cli, wait_for_status


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    service: str
    attributes: dict


@contextmanager
def otlp_collector() -> Iterator[tuple[str, list[Span]]]:
    """An OTLP/HTTP receiver on 127.0.0.1 keeping every span it is sent."""
    spans: list[Span] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                service = next(
                    (
                        a.value.string_value
                        for a in resource_spans.resource.attributes
                        if a.key == "service.name"
                    ),
                    "",
                )
                for scope_spans in resource_spans.scope_spans:
                    for s in scope_spans.spans:
                        spans.append(
                            Span(
                                s.name,
                                s.trace_id.hex(),
                                s.span_id.hex(),
                                s.parent_span_id.hex(),
                                s.kind,
                                service,
                                {a.key: a.value for a in s.attributes},
                            )
                        )
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", spans
    finally:
        server.shutdown()


def otel_env(endpoint: str) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def upload_and_wait(server: Server) -> str:
    with server.client(server.admin_key) as client:
        created = client.post(
            "/v1/tasks",
            files={"file": ("n.txt", b"+12025550143\n+4915112345678\n+4915112345679\n")},
            data={"task_type": "validate"},
        )
        assert created.status_code == 200, created.text
        task_id = created.json()["task_id"]
        wait_for_status(client, task_id)
    return task_id


def assert_chunks_in_the_upload_trace(spans: list[Span], task_id: str) -> None:
    uploads = [s for s in spans if s.name == "POST /v1/tasks" and not s.parent_id]
    assert len(uploads) == 1, sorted({s.name for s in spans})
    trace_id = uploads[0].trace_id
    in_trace = [s for s in spans if s.trace_id == trace_id]
    chunks = [s for s in in_trace if s.name == "numcheck.chunk"]
    assert sorted(s.attributes["numcheck.chunk"].int_value for s in chunks) == [0, 1]
    assert all(s.attributes["numcheck.task_id"].string_value == task_id for s in chunks)
    assert all(s.service == "numcheck-worker" for s in chunks)
    assert [s.name for s in in_trace if s.name == "numcheck.finalize"] == ["numcheck.finalize"]
    intake = [s for s in in_trace if s.name == "numcheck.intake.create"]
    assert len(intake) == 1 and {s.parent_id for s in chunks} == {intake[0].span_id}
    # Database calls are spans too, in the request and in the chunks.
    by_id = {s.span_id: s for s in in_trace}
    chunk_ids = {s.span_id for s in chunks}
    queries = [s for s in in_trace if s.parent_id in chunk_ids and s.name != "numcheck.chunk"]
    assert queries, "\n".join(sorted({f"{s.service} {s.name}" for s in spans}))
    assert all(by_id[s.parent_id].name == "numcheck.chunk" for s in queries)
    # The sweeper's queries, in no request, are no traces of their own.
    client = 3  # SPAN_KIND_CLIENT of the OTLP protocol
    assert not [s.name for s in spans if s.kind == client and not s.parent_id]


def wait_for_spans(spans: list[Span], name: str, count: int, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while sum(s.name == name for s in spans) < count:
        assert time.monotonic() < deadline, f"{name} spans never arrived"
        time.sleep(0.1)


def test_a_chunk_span_is_in_its_upload_trace_in_the_embedded_pool(tmp_path) -> None:
    with otlp_collector() as (endpoint, spans):
        env = {"NUMCHECK_WORKERS": "1", "NUMCHECK_CHUNK_LINES": "2", **otel_env(endpoint)}
        server = Server(tmp_path / "data", env=env).start()
        try:
            task_id = upload_and_wait(server)
        finally:
            server.stop()  # every process flushes its spans as it exits
        wait_for_spans(spans, "numcheck.finalize", 1)
        assert_chunks_in_the_upload_trace(spans, task_id)


def test_a_chunk_span_is_in_its_upload_trace_across_celery(tmp_path) -> None:
    with ExitStack() as stack:
        endpoint, spans = stack.enter_context(otlp_collector())
        env = {
            "NUMCHECK_DATABASE_URL": stack.enter_context(fresh_postgres()),
            "NUMCHECK_CHUNK_LINES": "2",
        }
        assert numcheck_cli(tmp_path / "data", "db", "upgrade", env=env).returncode == 0
        env["NUMCHECK_BROKER_URL"] = stack.enter_context(broker("redis"))
        server = Server(tmp_path / "data", env={**env, **otel_env(endpoint)})
        stack.callback(server.stop)
        server.start()
        task_id = upload_and_wait(server)
        wait_for_spans(spans, "numcheck.finalize", 1)
        server.stop()
        assert_chunks_in_the_upload_trace(spans, task_id)
        # Celery's own spans: the sending in the server, the running in the worker.
        assert any(s.name.startswith("apply_async/") for s in spans)
        assert any(s.name.startswith("run/") for s in spans)


def test_no_exporter_no_trace_context_stored(start_server) -> None:
    import sqlite3

    server = start_server()
    task_id = upload_and_wait(server)
    with sqlite3.connect(server.data_dir / "numcheck.db") as db:
        stored = db.execute("SELECT trace_context FROM tasks WHERE id = ?", (task_id,)).fetchone()
    assert stored == (None,)
