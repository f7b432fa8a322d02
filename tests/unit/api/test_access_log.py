"""The access record of a request (its log line and HTTP metrics) is written by the time the last
byte of its response leaves, so a client holding a whole response finds it already there; a
request whose client went away before any response is recorded once, as a 499."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY
from starlette.types import Message, Receive, Scope, Send

from numcheck.api.access_log import AccessLog


def requests_counted(path_status: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "numcheck_http_requests_total",
            {"method": "GET", "route": "unmatched", "status": path_status},
        )
        or 0.0
    )


async def answer_in_two_parts(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 403, "headers": []})
    await send({"type": "http.response.body", "body": b"part", "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def give_up_before_answering(scope: Scope, receive: Receive, send: Send) -> None:
    raise asyncio.CancelledError  # the client disconnected


def http_scope(path: str) -> Scope:
    return {"type": "http", "method": "GET", "path": path, "headers": []}


async def no_body(message: Message | None = None) -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def test_the_record_is_written_before_the_last_body_message_leaves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="numcheck.access")
    before = requests_counted("403")
    seen_at_each_send: list[tuple[str, bool, float]] = []

    async def client_side(message: Message) -> None:
        logged = any("GET /refused 403" in record.getMessage() for record in caplog.records)
        seen_at_each_send.append((message["type"], logged, requests_counted("403") - before))

    asyncio.run(AccessLog(answer_in_two_parts)(http_scope("/refused"), no_body, client_side))

    assert seen_at_each_send == [
        ("http.response.start", False, 0.0),
        ("http.response.body", False, 0.0),
        ("http.response.body", True, 1.0),  # the last message: already recorded
    ]
    assert requests_counted("403") - before == 1.0  # and only once


def test_a_request_without_a_response_is_recorded_once_as_499(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="numcheck.access")
    before = requests_counted("499")

    async def never_called(message: Message) -> None:
        raise AssertionError("nothing was to be sent")

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(AccessLog(give_up_before_answering)(http_scope("/gone"), no_body, never_called))

    assert requests_counted("499") - before == 1.0
    assert [r.getMessage().split()[:3] for r in caplog.records] == [["GET", "/gone", "499"]]
