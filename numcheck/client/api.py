"""`Client` and `Task`: submit, watch, download — with retries on 429 and 5xx."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, cast

import httpx

from numcheck.client import errors

TERMINAL = ("exported", "failed", "cancelled", "expired")


class Client:
    def __init__(
        self,
        server: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server,
            headers={"X-API-Key": api_key},
            timeout=timeout,
            transport=transport,
        )
        self._retries = retries
        self._backoff = backoff

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------------

    def _request(
        self, method: str, url: str, *, rewind: Sequence[IO[bytes]] = (), **kwargs: Any
    ) -> httpx.Response:
        """Send, retrying 429 (after Retry-After), 5xx and network errors with backoff."""
        for attempt in range(self._retries + 1):
            for handle in rewind:
                handle.seek(0)
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self._retries:
                    raise errors.ServerError(0, "unreachable", str(exc)) from exc
                time.sleep(self._delay(attempt, None))
                continue
            if response.status_code < 400:
                return response
            body = _json(response)
            retryable = (
                response.status_code == 429
                or response.status_code >= 500
                # our own earlier attempt (same Idempotency-Key) is still being handled
                or body.get("code") == "idempotency_in_progress"
            )
            if not retryable or attempt == self._retries:
                raise errors.from_response(response.status_code, body)
            time.sleep(self._delay(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass
        return self._backoff * (2**attempt) * (0.5 + random.random())

    # -- the contract ------------------------------------------------------------------------

    def submit(
        self, source: str | os.PathLike[str] | Iterable[str], task_type: str, **options: str
    ) -> Task:
        """Create a task from a file path or an iterable of lines.

        Options are form fields: `default_region`, `column`, `id_column`, `delimiter`, `sheet`
        (XLSX), `result_format` (`csv`, `xlsx`, `jsonl`), `include_failed` (`"true"`),
        `callback_url`. An Idempotency-Key makes the retries of this call safe: they never
        create a second task.
        """
        with _open_source(source) as (name, handle):
            response = self._request(
                "POST",
                "/v1/tasks",
                files={"file": (name, handle)},
                data={"task_type": task_type, **options},
                headers={"Idempotency-Key": uuid.uuid4().hex},
                rewind=[handle],
            )
        return Task(self, response.json())

    def task(self, task_id: str) -> Task:
        task = Task(self, {"task_id": task_id})
        task.refresh()
        return task

    def status(self, task_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self._request(
            "POST", "/v1/gettasks", data={"task_id": task_id}
        ).json()
        return body

    def lookup(
        self,
        numbers: Iterable[str],
        checks: str = "validate",
        *,
        default_region: str | None = None,
    ) -> list[dict[str, str]]:
        """Check up to 1,000 numbers now, in the request: one dict per number, in order, with
        `input` and the fields of its results.csv row, or `input` and `failure`."""
        body: dict[str, Any] = {"numbers": list(numbers), "task_type": checks}
        if default_region is not None:
            body["default_region"] = default_region
        answer: dict[str, list[dict[str, str]]] = self._request(
            "POST", "/v1/lookup", json=body
        ).json()
        return answer["results"]

    def download_results(self, task_id: str, path: str | os.PathLike[str]) -> Path:
        """Save an exported task's results file itself (no zip) at `path`."""
        with self._http.stream("GET", f"/v1/tasks/{task_id}/results") as response:
            return _save(response, Path(path))

    def checks(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._request("GET", "/v1/checks").json()
        return found

    def download_url(self, url: str, path: str | os.PathLike[str]) -> Path:
        with httpx.stream("GET", url, timeout=self._http.timeout) as response:
            return _save(response, Path(path))


class Task:
    """A task on the server; `status` holds the last status body seen."""

    def __init__(self, client: Client, status: dict[str, Any]) -> None:
        self._client = client
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

    def refresh(self) -> Task:
        self.status = self._client.status(self.id)
        return self

    def wait(
        self,
        poll: float = 1.0,
        on_progress: Callable[[Task], None] | None = None,
        timeout: float | None = None,
    ) -> Task:
        """Poll until the task ends; TaskFailed unless it is exported."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.refresh()
            if on_progress is not None:
                on_progress(self)
            if self.state in TERMINAL:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"task {self.id} is still {self.state}")
            time.sleep(poll)
        if self.state != "exported":
            raise errors.TaskFailed(self.status)
        return self

    def download(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Save the result zip (`<task_id>.zip` by default); a fresh link is asked for first."""
        self.refresh()
        if "result_url" not in self.status:
            raise errors.TaskFailed(self.status)
        return self._client.download_url(self.status["result_url"], path or f"{self.id}.zip")

    def rows(self) -> Iterator[dict[str, str]]:
        """The rows of the results file (CSV or JSON Lines) as dicts, in input order."""
        with tempfile.TemporaryDirectory() as tmp:
            archive = self.download(Path(tmp) / f"{self.id}.zip")
            with zipfile.ZipFile(archive) as opened:
                names = set(opened.namelist())
                if "results.jsonl" in names:
                    with opened.open("results.jsonl") as raw:
                        yield from map(json.loads, io.TextIOWrapper(raw, encoding="utf-8"))
                    return
                if "results.csv" not in names:
                    raise ValueError("rows() reads CSV or JSON Lines results; this task has XLSX")
                with opened.open("results.csv") as raw:
                    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                    yield from csv.DictReader(text)


def _save(response: httpx.Response, target: Path) -> Path:
    """A streamed response's body into `target`, or its error raised."""
    if response.status_code >= 400:
        response.read()
        raise errors.from_response(response.status_code, _json(response))
    with open(target, "wb") as out:
        for block in response.iter_bytes():
            out.write(block)
    return target


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"code": "http_error", "message": response.text[:200]}
    return body if isinstance(body, dict) else {"code": "http_error", "message": str(body)[:200]}


class _open_source:
    """A file to upload: the path itself, or lines spooled to a temporary file (so retries can
    send it again)."""

    def __init__(self, source: str | os.PathLike[str] | Iterable[str]) -> None:
        self._source = source
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> tuple[str, IO[bytes]]:
        if isinstance(self._source, (str, os.PathLike)):
            path = Path(self._source)
            self._handle = open(path, "rb")
            return path.name, self._handle
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)
        for line in self._source:
            spool.write(line.rstrip("\r\n").encode() + b"\n")
        spool.seek(0)
        self._handle = cast(IO[bytes], spool)
        return "numbers.txt", self._handle

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
