"""Streaming multipart/form-data: the file part goes to a sink piece by piece, never whole.

Starlette's own form parsing spools a file part of any size to disk before the route runs, so
limits could only be checked afterwards. Here every piece passes through the sink as it arrives,
and the sink's limit errors stop the upload at once.

A body is accepted only when it is whole: python-multipart's `finalize()` does not notice a body
that stops before its closing boundary (a client crash, a proxy cut), so the reader tracks that
the file part and the body both ended. Each field may be sent once: a repeated field would be
read one way by the file's reader and another way afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from numcheck import errors

if TYPE_CHECKING:  # the library declares its callbacks' types for type checkers only
    from python_multipart.multipart import MultipartCallbacks

_MAX_FIELD_BYTES = 1024
_MAX_FIELDS = 16


class FileSink(Protocol):
    def feed(self, data: bytes) -> None: ...


class _FormReader:
    def __init__(
        self, file_field: str, open_sink: Callable[[dict[str, str], str], FileSink]
    ) -> None:
        self.fields: dict[str, str] = {}
        self.fields_before_file: dict[str, str] = {}
        self.sink: FileSink | None = None
        self.file_ended = False  # the file part reached its boundary
        self.body_ended = False  # the closing boundary was read
        self._names_seen: set[str] = set()
        self._file_field = file_field
        self._open_sink = open_sink
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._name: str | None = None
        self._value = bytearray()
        self._to_sink = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._add_header_field(d[s:e]),
            "on_header_value": lambda d, s, e: self._add_header_value(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": lambda d, s, e: self._part_data(d[s:e]),
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    @property
    def complete(self) -> bool:
        return self.body_ended and (self.sink is None or self.file_ended)

    def _part_begin(self) -> None:
        self._headers, self._name, self._value, self._to_sink = {}, None, bytearray(), False

    def _add_header_field(self, data: bytes) -> None:
        self._header_field += data

    def _add_header_value(self, data: bytes) -> None:
        self._header_value += data

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._name = name
        if name in self._names_seen:
            raise errors.InvalidRequest(
                f"The field {name[:100]!r} is sent more than once; send each field once."
            )
        self._names_seen.add(name)
        if name == self._file_field:
            filename = params.get(b"filename", b"").decode("utf-8", "replace")
            self.fields_before_file = dict(self.fields)
            self.sink = self._open_sink(self.fields_before_file, filename)
            self._to_sink = True
        elif len(self.fields) >= _MAX_FIELDS:
            raise errors.InvalidRequest("Too many form fields.")

    def _part_data(self, data: bytes) -> None:
        if self._to_sink:
            assert self.sink is not None
            self.sink.feed(data)
            return
        self._value += data
        if len(self._value) > _MAX_FIELD_BYTES:
            raise errors.InvalidRequest(f"Form field {self._name!r} is too long.")

    def _part_end(self) -> None:
        if self._to_sink:
            self.file_ended = True
            return
        if self._name is None:
            return
        try:
            self.fields[self._name] = self._value.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidRequest(f"Form field {self._name!r} is not UTF-8.") from None

    def _end(self) -> None:
        self.body_ended = True


async def stream_form(
    request: Request,
    *,
    file_field: str,
    open_sink: Callable[[dict[str, str], str], FileSink],
    before_file: tuple[str, ...] = (),
) -> tuple[dict[str, str], FileSink | None]:
    """Read a multipart body; return its small fields and the sink that took the file part.

    `open_sink` is called when the file part begins, with the fields that came before it and
    the part's file name. Fields named in `before_file` shape how the file is read, so they are
    refused when they come after it.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise errors.InvalidRequest(
            f"Send multipart/form-data with a {file_field!r} field and a 'task_type' field."
        )
    reader = _FormReader(file_field, open_sink)
    parser = MultipartParser(boundary, reader.callbacks())
    # A refusal stops reading here; DrainUnreadBody reads the rest after the response.
    try:
        async for piece in request.stream():
            if piece:
                # The sink writes to the blob store: keep that blocking I/O off the event loop.
                await run_in_threadpool(parser.write, piece)
        parser.finalize()
    except errors.NumcheckError:
        raise
    except ValueError as exc:  # python-multipart's parse errors are ValueErrors
        raise errors.InvalidRequest("The multipart body is malformed.") from exc
    if not reader.complete:
        raise errors.InvalidRequest(
            "The request body ended before its closing boundary: the upload is incomplete "
            "(a client or a proxy cut it short); nothing was kept, send it again."
        )
    for name in before_file:
        if name in reader.fields and name not in reader.fields_before_file:
            raise errors.InvalidRequest(f"Send the {name!r} field before the file.")
    return reader.fields, reader.sink
