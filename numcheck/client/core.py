"""What the sync `Client` and the `AsyncClient` share, free of I/O: each call of the contract
described once (`Call`), the retry policy, the polling schedule, the task's view of a status
body, the file to upload and the reading of a result zip. The two clients only send."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import random
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar, cast
from urllib.parse import quote

import httpx

from numcheck.client import errors

log = logging.getLogger("numcheck.client")
log.addHandler(logging.NullHandler())  # a library: the application decides what is shown

KEY_HEADER = "X-API-Key"
TERMINAL = frozenset({"exported", "failed", "cancelled", "expired"})
# A server that refuses the connection is not there: a couple of quick tries cover a restart,
# then give up (retries with backoff are for 429, 5xx and connections dropped mid-way).
CONNECT_RETRIES = 2
CONNECT_DELAY_CAP = 1.0

T = TypeVar("T")


# -- the calls --------------------------------------------------------------------------------


@dataclass
class Call(Generic[T]):
    """One request of the contract and how to read its answer."""

    method: str
    url: str
    parse: Callable[[httpx.Response], T]
    kwargs: dict[str, Any] = field(default_factory=dict)


def body(response: httpx.Response) -> Any:
    return response.json()


def checks() -> Call[list[dict[str, Any]]]:
    return Call("GET", "/v1/checks", body)


def status(task_id: str) -> Call[dict[str, Any]]:
    return Call("POST", "/v1/gettasks", body, {"data": {"task_id": task_id}})


def cancel(task_id: str) -> Call[dict[str, Any]]:
    return Call("DELETE", f"/v1/tasks/{_path_part(task_id)}", body)


def account() -> Call[dict[str, Any]]:
    return Call("GET", "/v1/account", body)


def lookup(
    numbers: Iterable[str], task_type: str, default_region: str | None
) -> Call[list[dict[str, str]]]:
    sent: dict[str, Any] = {"numbers": list(numbers), "task_type": task_type}
    if default_region is not None:
        sent["default_region"] = default_region
    return Call("POST", "/v1/lookup", lambda r: r.json()["results"], {"json": sent})


def page(status: str | None, cursor: str | None, size: int) -> Call[dict[str, Any]]:
    """One page of `GET /v1/tasks`: `{"tasks": [...], "next_cursor": ...}`."""
    params: dict[str, str | int] = {"limit": size}
    if status:
        params["status"] = status
    if cursor:
        params["cursor"] = cursor
    return Call("GET", "/v1/tasks", body, {"params": params})


def download(url: str, target: Path) -> Call[Path]:
    """A file to save at `target`: the client streams the body there; the answer is the path."""
    return Call("GET", url, lambda _: target)


def results_url(task_id: str) -> str:
    """`GET /v1/tasks/{id}/results`: the results file itself, without the zip."""
    return f"/v1/tasks/{_path_part(task_id)}/results"


def _path_part(task_id: str) -> str:
    """A task id as one path segment: nothing typed can reach another route."""
    return quote(task_id, safe="")


def build(
    http: httpx.Client | httpx.AsyncClient, call: Call[Any], *, keyless: bool = False
) -> httpx.Request:
    request = http.build_request(call.method, call.url, **call.kwargs)
    if keyless:  # a result link is signed; the key never goes to another host (S3)
        del request.headers[KEY_HEADER]
    return request


# -- retries ----------------------------------------------------------------------------------


class RetryPolicy:
    """When to try a request again and how long to wait first; logs each retry."""

    def __init__(self, retries: int, backoff: float) -> None:
        self.retries, self.backoff = retries, backoff

    def after_error(self, attempt: int, exc: httpx.TransportError, request: httpx.Request) -> float:
        """The wait before the next attempt after no answer, or Unreachable."""
        refused = isinstance(exc, httpx.ConnectError)
        limit = min(self.retries, CONNECT_RETRIES) if refused else self.retries
        where = f"{request.url.scheme}://{request.url.netloc.decode()}"
        reason = _reason(exc)
        if attempt >= limit:
            raise errors.Unreachable(where, reason) from exc
        delay = self._backoff(attempt)
        if refused:
            delay = min(delay, CONNECT_DELAY_CAP)
        self._log(request, reason, delay, attempt, limit)
        return delay

    def after_response(self, attempt: int, response: httpx.Response) -> float:
        """The wait before the next attempt after an error answer, or its typed error."""
        answer = error_body(response)
        retryable = (
            response.status_code == 429
            or response.status_code >= 500
            # our own earlier attempt (same Idempotency-Key) is still being handled
            or answer.get("code") == "idempotency_in_progress"
        )
        if not retryable or attempt >= self.retries:
            raise errors.from_response(response.status_code, answer)
        delay = self._retry_after(response.headers.get("Retry-After"))
        if delay is None:
            delay = self._backoff(attempt)
        reason = f"{response.status_code} {answer.get('code', '')}".strip()
        self._log(response.request, reason, delay, attempt, self.retries)
        return delay

    def _backoff(self, attempt: int) -> float:
        return self.backoff * (2**attempt) * (0.5 + random.random())

    @staticmethod
    def _retry_after(value: str | None) -> float | None:
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return None

    @staticmethod
    def _log(request: httpx.Request, reason: str, delay: float, attempt: int, limit: int) -> None:
        log.warning(
            "%s %s: %s; retrying in %.1f s (retry %d of %d)",
            request.method,
            request.url.copy_with(query=None),
            reason,
            delay,
            attempt + 1,
            limit,
        )


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        return "connection refused" if "refused" in text or not text else str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return str(exc) or type(exc).__name__


def error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {"code": "http_error", "message": response.text[:200]}
    if isinstance(answer, dict):
        return answer
    return {"code": "http_error", "message": str(answer)[:200]}


# -- waiting ----------------------------------------------------------------------------------


def poll_delays(longest: float) -> Iterator[float]:
    """Waits between status calls: fast at first (a small task ends in milliseconds), then
    backing off to `longest`."""
    delay = min(0.05, longest)
    while True:
        yield delay
        delay = min(delay * 1.5, longest)


# -- a task's status body ---------------------------------------------------------------------


class TaskView:
    """A task on the server; `status` holds the last status body seen."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status

    @property
    def id(self) -> str:
        return str(self.status["task_id"])

    @property
    def total(self) -> int:
        return int(self.status.get("total", 0))

    @property
    def done(self) -> int:
        return int(self.status.get("success", 0)) + int(self.status.get("failure", 0))

    @property
    def state(self) -> str:
        return str(self.status.get("status", "pending"))

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def outcome(self) -> None:
        """Nothing for an exported task; TaskFailed for one that ended otherwise."""
        if self.finished and self.state != "exported":
            raise errors.TaskFailed(self.status)

    def result_url(self) -> str:
        """The signed link of an exported task, or why there is none."""
        if "result_url" in self.status:
            return str(self.status["result_url"])
        if not self.finished:
            raise errors.TaskNotFinished(self.status)
        raise errors.TaskFailed(self.status)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.state} {self.done}/{self.total}>"


# -- files ------------------------------------------------------------------------------------


class Upload:
    """A file to upload: the path itself, or lines spooled to a temporary file (so a retry can
    send it again); `on_upload(sent, size)` is told as its bytes are read for sending."""

    def __init__(
        self,
        source: str | os.PathLike[str] | Iterable[str],
        on_upload: Callable[[int, int], None] | None = None,
    ) -> None:
        self._source = source
        self._on_upload = on_upload
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> tuple[str, IO[bytes]]:
        if isinstance(self._source, (str, os.PathLike)):
            path = Path(self._source)
            self._handle = open(path, "rb")
            name = path.name
        else:
            spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)
            for line in self._source:
                spool.write(line.rstrip("\r\n").encode() + b"\n")
            spool.seek(0)
            self._handle = cast(IO[bytes], spool)
            name = "numbers.txt"
        if self._on_upload is not None:
            return name, cast(IO[bytes], _Counted(self._handle, self._on_upload))
        return name, self._handle

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()


class _Counted:
    """A file that reports how far it has been read (what httpx has sent of it)."""

    def __init__(self, handle: IO[bytes], report: Callable[[int, int], None]) -> None:
        self._handle, self._report = handle, report
        position = handle.tell()
        self._size = handle.seek(0, io.SEEK_END)
        handle.seek(position)

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._report(self._handle.tell(), self._size)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


def read_rows(archive: Path) -> Iterator[dict[str, str]]:
    """The rows of the results file (CSV or JSON Lines) in a result zip, as dicts, in input
    order."""
    with zipfile.ZipFile(archive) as opened:
        names = set(opened.namelist())
        if "results.jsonl" in names:
            with opened.open("results.jsonl") as raw:
                yield from map(json.loads, io.TextIOWrapper(raw, encoding="utf-8"))
            return
        if "results.csv" not in names:
            raise ValueError("rows() reads CSV or JSON Lines results; this task has XLSX")
        with opened.open("results.csv") as raw:
            yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
