"""GET /metrics: Prometheus text from prometheus-client, behind a bearer token or on a port of
its own, with the counters of the worker processes summed in (multiprocess mode)."""

from __future__ import annotations

from contextlib import ExitStack

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import Server, free_port, submit, wait_for_status

TOKEN = "scrape-token-for-tests"


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels (the parser rejects bad text)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def run_a_task(server: Server, lines: int) -> str:
    with server.client(server.admin_key) as client:
        content = "".join(
            "n/a\n" if i % 10 == 3 else f"+49151{i:08d}\n" for i in range(lines)
        ).encode()
        created = submit(client, content)
        assert created.status_code == 200, created.text
        task_id = created.json()["task_id"]
        wait_for_status(client, task_id)
        assert client.get("/v1/tasks/tsk_doesnotexist").status_code == 404
    return task_id


def test_a_scrape_after_a_task_counts_requests_tasks_lines_and_chunks(start_server) -> None:
    server = start_server(metrics_token=TOKEN, chunk_lines=100)
    task_id = run_a_task(server, 250)  # 3 chunks, 25 malformed lines

    response = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = scrape(response.text)

    created = ("method", "POST"), ("route", "/v1/tasks"), ("status", "200")
    assert samples[("numcheck_http_requests_total", created)] == 1
    assert samples[("numcheck_http_request_duration_seconds_count", created)] == 1
    polled = dict(method="GET", route="/v1/tasks/{task_id}", status="200")
    assert value(samples, "numcheck_http_requests_total", **polled) >= 1
    missing = dict(method="GET", route="/v1/tasks/{task_id}", status="404")
    assert value(samples, "numcheck_http_requests_total", **missing) == 1
    assert not any(task_id in str(key) for key in samples), "a task id in a label"

    assert value(samples, "numcheck_tasks_created_total", check="validate") == 1
    assert (
        value(samples, "numcheck_tasks_finished_total", check="validate", outcome="exported") == 1
    )
    # Counted in the pool's worker process, summed into the server's scrape.
    assert (
        value(samples, "numcheck_lines_checked_total", check="validate", outcome="success") == 225
    )
    assert value(samples, "numcheck_lines_checked_total", check="validate", outcome="failure") == 25
    assert value(samples, "numcheck_chunk_duration_seconds_count", check="validate") == 3
    assert value(samples, "numcheck_finalize_duration_seconds_count") == 1
    assert value(samples, "numcheck_validator_fallbacks_total") == 0
    assert value(samples, "numcheck_tasks", status="exported") == 1
    assert value(samples, "numcheck_queue_chunks", state="due") == 0
    assert ("numcheck_queue_oldest_due_seconds", ()) in samples
    assert ("numcheck_rate_limiter_degraded", ()) in samples

    # The admin alias serves the same metrics with an admin key.
    with server.client(server.admin_key) as client:
        alias = scrape(client.get("/v1/admin/metrics").text)
    assert value(alias, "numcheck_tasks_created_total", check="validate") == 1


def test_metrics_refuse_a_scrape_without_the_token(start_server) -> None:
    server = start_server(metrics_token=TOKEN)
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-API-Key": server.admin_key},
    ):
        response = httpx.get(f"{server.url}/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "invalid_metrics_token"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "numcheck_" not in response.text
    with server.client(server.create_key("plain")) as client:  # not an admin: no alias either
        assert client.get("/v1/admin/metrics").status_code == 403


def test_metrics_on_a_port_of_their_own(start_server) -> None:
    port = free_port()
    server = start_server(metrics_port=port)  # no token: /metrics is absent on the API port
    assert httpx.get(f"{server.url}/metrics").status_code == 404
    run_a_task(server, 10)
    samples = scrape(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
    assert value(samples, "numcheck_lines_checked_total", check="validate", outcome="success") == 9
    assert value(samples, "numcheck_tasks", status="exported") == 1


def test_a_celery_worker_sums_its_children_on_its_metrics_port(tmp_path) -> None:
    from tests.helpers import broker, fresh_postgres, numcheck_cli

    data_dir = tmp_path / "data"
    stack = ExitStack()
    postgres_url = stack.enter_context(fresh_postgres())  # its own: a first admin of its own
    env = {"NUMCHECK_DATABASE_URL": postgres_url, "NUMCHECK_CHUNK_LINES": "100"}
    upgraded = numcheck_cli(data_dir, "db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    with stack, broker("redis") as broker_url:
        env |= {"NUMCHECK_BROKER_URL": broker_url, "NUMCHECK_WORKERS": "2"}
        server = Server(data_dir, env={**env, "NUMCHECK_METRICS_TOKEN": TOKEN}, worker_count=0)
        worker_port = free_port()
        try:
            server.start()
            server.env = {**env, "NUMCHECK_METRICS_PORT": str(worker_port)}
            server.start_worker()
            run_a_task(server, 250)
            worker = scrape(httpx.get(f"http://127.0.0.1:{worker_port}/metrics").text)
            api = scrape(
                httpx.get(
                    f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
                ).text
            )
        finally:
            server.stop()
    # The worker's two prefork children did the chunks; its port reports their sum.
    assert value(worker, "numcheck_chunk_duration_seconds_count", check="validate") == 3
    assert value(worker, "numcheck_lines_checked_total", check="validate", outcome="success") == 225
    assert value(api, "numcheck_lines_checked_total", check="validate", outcome="success") == 0
    assert value(api, "numcheck_tasks_created_total", check="validate") == 1
    assert value(api, "numcheck_tasks", status="exported") == 1
