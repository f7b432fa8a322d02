"""The client's retry policy, against scripted answers (httpx.MockTransport): 429 waits as long
as Retry-After says, 5xx and dropped connections back off, other 4xx are raised at once, and a
submit's retries carry one Idempotency-Key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from numcheck.client import (
    AsyncClient,
    Client,
    InvalidRequest,
    NumcheckClientError,
    RateLimited,
    ServerError,
    Unreachable,
    WaitTimeout,
)
from numcheck.client import aio as client_aio
from numcheck.client import api as client_api

Answer = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's waits, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(client_api.time, "sleep", waits.append)
    return waits


def scripted(*answers: Answer) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport answering each request with the next answer; records the requests."""
    seen: list[httpx.Request] = []
    pending: Iterator[Answer] = iter(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(pending)(request)

    return httpx.MockTransport(handle), seen


def status(code: int, body: dict[str, object], **headers: str) -> Answer:
    return lambda _request: httpx.Response(code, json=body, headers=headers)


def dropped(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("connection reset by peer", request=request)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


CHECKS = [{"name": "validate", "description": "", "columns": ["Number", "valid"]}]


def test_429_waits_for_retry_after_and_5xx_backs_off(slept: list[float]) -> None:
    transport, seen = scripted(
        status(429, {"code": "rate_limited", "message": "slow down"}, **{"Retry-After": "3"}),
        status(503, {"code": "service_unavailable", "message": "restarting"}),
        dropped,
        lambda _request: httpx.Response(200, json=CHECKS),
    )
    with Client("http://numcheck.test", "nck_k_s", transport=transport, backoff=0.5) as client:
        assert client.checks() == CHECKS
    assert len(seen) == 4
    assert slept[0] == 3.0  # Retry-After, exactly
    assert 0 < slept[1] <= 1.5 and 0 < slept[2] <= 3.0  # backoff: 0.5 s, doubling, jittered


def test_other_refusals_are_raised_at_once_with_their_code(slept: list[float]) -> None:
    transport, seen = scripted(status(400, {"code": "unknown_task_type", "message": "no"}))
    with (
        Client("http://numcheck.test", "nck_k_s", transport=transport) as client,
        pytest.raises(InvalidRequest) as raised,
    ):
        client.checks()
    assert (raised.value.status, raised.value.code) == (400, "unknown_task_type")
    assert len(seen) == 1 and slept == []


def test_retries_run_out_into_the_typed_error(slept: list[float]) -> None:
    busy = status(429, {"code": "rate_limited", "message": "slow down"}, **{"Retry-After": "1"})
    transport, seen = scripted(*[busy] * 3)
    with (
        Client("http://numcheck.test", "nck_k_s", transport=transport, retries=2) as client,
        pytest.raises(RateLimited),
    ):
        client.checks()
    assert len(seen) == 3 and slept == [1.0, 1.0]
    transport, seen = scripted(*[dropped] * 2)
    with (
        Client("http://numcheck.test", "nck_k_s", transport=transport, retries=1) as client,
        pytest.raises(ServerError) as unreachable,
    ):
        client.checks()
    assert unreachable.value.status == 0 and isinstance(unreachable.value, Unreachable)


def test_a_submit_retried_sends_the_same_file_and_idempotency_key(slept: list[float]) -> None:
    created = {
        "task_id": "dc60g3n8lhpk1vas1e5g",
        "status": "pending",
        "total": 2,
        "message": "Task created successfully",
        "created_at": "2026-11-27T08:21:12.956Z",
    }
    transport, seen = scripted(
        status(500, {"code": "internal_error", "message": "oops"}),
        lambda _request: httpx.Response(200, json=created),
    )
    with Client("http://numcheck.test", "nck_k_s", transport=transport) as client:
        task = client.submit(["+12025550101", "+4915112345678"], "validate")
    assert task.id == created["task_id"]
    first, second = seen
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    for request in (first, second):  # the whole file each time, not what was left of it
        assert b"\r\n\r\n+12025550101\n+4915112345678\n\r\n--" in request.read()
    assert json.loads(json.dumps(task.status)) == created


def test_a_refused_connection_is_given_up_on_within_seconds_and_names_the_url(
    slept: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    transport, seen = scripted(*[refused] * 10)
    with (
        Client("http://numcheck.test:9", "nck_k_s", transport=transport, retries=5) as client,
        pytest.raises(Unreachable) as raised,
        caplog.at_level("WARNING", logger="numcheck.client"),
    ):
        client.checks()
    assert len(seen) == 3 and sum(slept) <= 2.0  # two quick retries, not five with backoff
    assert (
        str(raised.value)
        == "0 unreachable: cannot reach http://numcheck.test:9: connection refused"
    )
    assert isinstance(raised.value, NumcheckClientError)
    retries = [r.getMessage() for r in caplog.records]
    assert len(retries) == 2 and retries[0].startswith(
        "GET http://numcheck.test:9/v1/checks: connection refused; retrying in"
    )


def test_retries_are_logged_with_their_reason(
    slept: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    transport, _ = scripted(
        status(503, {"code": "service_unavailable", "message": "restarting"}),
        lambda _request: httpx.Response(200, json=CHECKS),
    )
    with (
        Client("http://numcheck.test", "nck_k_s", transport=transport) as client,
        caplog.at_level("WARNING", logger="numcheck.client"),
    ):
        client.checks()
    (record,) = caplog.records
    assert "503 service_unavailable; retrying in" in record.getMessage()
    assert "(retry 1 of 5)" in record.getMessage()


EXPORTED = {
    "task_id": "dc60g3n8lhpk1vas1e5g",
    "status": "exported",
    "total": 1,
    "success": 1,
    "failure": 0,
    "result_url": "https://files.example/results/dc60g3n8lhpk1vas1e5g.zip?sig=abc",
}


def test_the_download_goes_through_the_transport_and_retries_without_the_key(
    slept: list[float], tmp_path
) -> None:
    transport, seen = scripted(
        status(200, EXPORTED),
        status(503, {"code": "service_unavailable", "message": "busy"}),
        dropped,
        lambda _request: httpx.Response(200, content=b"PK-zip-bytes"),
    )
    with Client("http://numcheck.test", "nck_k_s", transport=transport) as client:
        task = client_api.Task(client, dict(EXPORTED))
        saved = task.download(tmp_path / "r.zip")
    assert saved.read_bytes() == b"PK-zip-bytes"
    assert [str(r.url) for r in seen[1:]] == [EXPORTED["result_url"]] * 3
    assert all("X-API-Key" not in r.headers for r in seen[1:])  # signed link, maybe S3
    assert seen[0].headers["X-API-Key"] == "nck_k_s"


def test_the_async_client_retries_as_the_sync_one(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def no_sleep(delay: float) -> None:
        waits.append(delay)

    monkeypatch.setattr(client_aio.asyncio, "sleep", no_sleep)
    transport, seen = scripted(
        status(429, {"code": "rate_limited", "message": "slow down"}, **{"Retry-After": "2"}),
        dropped,
        lambda _request: httpx.Response(200, json=CHECKS),
    )

    async def run() -> list[dict]:
        async with AsyncClient("http://numcheck.test", "nck_k_s", transport=transport) as c:
            return await c.checks()

    assert asyncio.run(run()) == CHECKS
    assert len(seen) == 3 and waits[0] == 2.0 and 0 < waits[1] <= 1.5


def test_wait_polls_fast_first_then_backs_off_and_times_out(slept: list[float]) -> None:
    running = {"task_id": "dc60g3n8lhpk1vas1e5g", "status": "processing", "total": 9}
    answers = [status(200, running)] * 12 + [status(200, {**EXPORTED, "total": 9, "success": 9})]
    transport, seen = scripted(*answers)
    with Client("http://numcheck.test", "nck_k_s", transport=transport) as client:
        task = client_api.Task(client, dict(running))
        task.wait(poll=0.5)
    assert task.state == "exported" and len(seen) == 13
    assert slept[0] == 0.05 and slept == sorted(slept) and slept[-1] == 0.5  # 50 ms, then up
    transport, _ = scripted(*[status(200, running)] * 3)
    with (
        Client("http://numcheck.test", "nck_k_s", transport=transport) as client,
        pytest.raises(WaitTimeout) as late,
    ):
        client_api.Task(client, dict(running)).wait(timeout=0)
    assert isinstance(late.value, TimeoutError) and isinstance(late.value, NumcheckClientError)
