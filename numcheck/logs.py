"""Logging set-up: one format for the server and its workers. Never log keys or numbers.

Every record (numcheck's, uvicorn's, Celery's: they all reach the root handler) carries the
context it was logged in: the request's id, the task and the chunk, where known (`context`).
`plain` (the default) is one line a record, control characters escaped so that a value (a path
with `%0A`) cannot start a forged line; `json` is one JSON object a line.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

FIELDS = ("request_id", "task_id", "chunk")

_context: ContextVar[dict[str, object] | None] = ContextVar("numcheck_log_context", default=None)


def _fields() -> dict[str, object]:
    return _context.get() or {}


@contextmanager
def context(**fields: object) -> Iterator[None]:
    """Records logged inside the block carry `fields` (besides those of an enclosing block)."""
    token = _context.set({**_fields(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: object) -> None:
    """Add fields to the current context, until the enclosing `context` block ends."""
    _context.set({**_fields(), **fields})


def current(field: str) -> object | None:
    return _fields().get(field)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        found = _fields()
        for field in FIELDS:
            if not hasattr(record, field):
                setattr(record, field, found.get(field))
        return True


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def escape(text: str) -> str:
    r"""`\n`, `\r`, `\t` and every other control character as an escape: one record, one line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(processName)s %(name)s%(where)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)  # the traceback, appended after, keeps its lines
        where = " ".join(
            f"{field}={escape(str(value))}"
            for field in FIELDS
            if (value := getattr(record, field, None)) is not None
        )
        record.where = f" [{where}]" if where else ""
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.processName,
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", format: str = "plain") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if format == "json" else PlainFormatter())
    handler.addFilter(_ContextFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.captureWarnings(True)  # warnings (Celery's, as root) become records of this format
