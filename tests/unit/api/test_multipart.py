"""stream_form on real ASGI request messages: whole bodies only, each field once."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from numcheck import errors
from numcheck.api.multipart import stream_form

BOUNDARY = "unit-boundary"


class Collected:
    """The file sink: keeps what the reader hands it."""

    def __init__(self) -> None:
        self.data = b""
        self.opened_with: tuple[dict[str, str], str] | None = None

    def feed(self, data: bytes) -> None:
        self.data += data


def field(name: str, value: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    )


def file_head(filename: str = "n.txt") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "\r\n"
    ).encode()


CLOSING = f"--{BOUNDARY}--\r\n".encode()


def read_form(
    body: bytes, *, piece: int = 7, before_file: tuple[str, ...] = ()
) -> tuple[dict[str, str], Collected]:
    """Deliver `body` in pieces of `piece` bytes, as a server would, and read it."""
    messages = [
        {"type": "http.request", "body": body[i : i + piece], "more_body": True}
        for i in range(0, len(body), piece)
    ] + [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/tasks",
        "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
    }
    sink = Collected()

    def open_sink(fields: dict[str, str], filename: str) -> Collected:
        sink.opened_with = (dict(fields), filename)
        return sink

    async def run() -> dict[str, str]:
        fields, _ = await stream_form(
            Request(scope, receive), file_field="file", open_sink=open_sink, before_file=before_file
        )
        return fields

    return asyncio.run(run()), sink


WHOLE = field("task_type", "validate") + file_head() + b"+12025550101\n+1202555\r\n" + CLOSING


@pytest.mark.parametrize("piece", [1, 5, 64, 10_000])
def test_a_whole_body_gives_its_fields_and_the_file(piece: int) -> None:
    fields, sink = read_form(WHOLE, piece=piece)
    assert fields == {"task_type": "validate"}
    assert sink.data == b"+12025550101\n+1202555"
    assert sink.opened_with == ({"task_type": "validate"}, "n.txt")


@pytest.mark.parametrize("cut", range(len(field("task_type", "validate")), len(WHOLE) - 2))
def test_every_body_cut_short_is_refused(cut: int) -> None:
    """Cut anywhere after the first field: in the file, in a boundary, in the closing one.
    (The CRLF after the closing boundary is optional, so the last two cuts are whole bodies.)"""
    with pytest.raises(errors.InvalidRequest, match="before its closing boundary"):
        read_form(WHOLE[:cut])


def test_a_file_part_that_never_reached_its_boundary_is_refused_even_without_fields() -> None:
    with pytest.raises(errors.InvalidRequest, match="before its closing boundary"):
        read_form(file_head() + b"+12025550101\n")


def test_an_empty_body_is_refused() -> None:
    with pytest.raises(errors.InvalidRequest, match="before its closing boundary"):
        read_form(b"")


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("column", field("column", "a") + file_head() + b"x\r\n" + field("column", "b") + CLOSING),
        ("column", field("column", "a") + field("column", "a") + file_head() + b"x\r\n" + CLOSING),
        ("file", file_head() + b"x\r\n" + file_head("other.txt") + b"y\r\n" + CLOSING),
        ("mode", file_head() + b"x\r\n" + field("mode", "add") + field("mode", "add") + CLOSING),
    ],
)
def test_a_repeated_field_is_refused_naming_it(name: str, body: bytes) -> None:
    with pytest.raises(errors.InvalidRequest, match=f"'{name}' is sent more than once"):
        read_form(body)


def test_a_shaping_field_after_the_file_is_still_refused() -> None:
    body = file_head() + b"x\r\n" + field("column", "phone") + CLOSING
    with pytest.raises(errors.InvalidRequest, match="'column' field before the file"):
        read_form(body, before_file=("column",))
