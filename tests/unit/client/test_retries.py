"""The client's retry policy, against scripted answers (httpx.MockTransport): 429 waits as long
as Retry-After says, 5xx and dropped connections back off, other 4xx are raised at once, and a
submit's retries carry one Idempotency-Key."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from numcheck.client import Client, InvalidRequest, RateLimited, ServerError
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
    raise httpx.ConnectError("connection reset", request=request)


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
    assert unreachable.value.status == 0


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
