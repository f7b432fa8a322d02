"""`Client` and `Task`: submit, watch, list, cancel, download — with retries on 429, 5xx and
dropped connections. `aio.AsyncClient` is the same over asyncio; both build their requests and
judge their answers with `core`."""

from __future__ import annotations

import itertools
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from numcheck.client import core, errors

T = TypeVar("T")


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
            headers={core.KEY_HEADER: api_key},
            timeout=timeout,
            transport=transport,
        )
        self._policy = core.RetryPolicy(retries, backoff)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending -----------------------------------------------------------------------------

    def _send(
        self,
        call: core.Call[T],
        *,
        keyless: bool = False,
        consume: Callable[[httpx.Response], T] | None = None,
        rewind: Sequence[IO[bytes]] = (),
    ) -> T:
        """Send `call`, retrying as `core.RetryPolicy` says; `consume` reads a streamed body
        (a download), and a body cut off mid-way is sent for again."""
        for attempt in itertools.count():
            for handle in rewind:
                handle.seek(0)
            request = core.build(self._http, call, keyless=keyless)
            try:
                response = self._http.send(request, stream=True)
                try:
                    if response.status_code < 400:
                        if consume is not None:
                            return consume(response)
                        response.read()
                        return call.parse(response)
                    response.read()
                finally:
                    response.close()
            except httpx.TransportError as exc:
                time.sleep(self._policy.after_error(attempt, exc, request))
                continue
            time.sleep(self._policy.after_response(attempt, response))
        raise AssertionError("unreachable")

    # -- the contract ------------------------------------------------------------------------

    def submit(
        self,
        source: str | os.PathLike[str] | Iterable[str],
        task_type: str,
        options: Mapping[str, str] | None = None,
        *,
        on_upload: Callable[[int, int], None] | None = None,
        **fields: str,
    ) -> Task:
        """Create a task from a file path or an iterable of lines.

        Options are form fields, as a mapping or as keywords: `default_region`, `column`,
        `id_column`, `callback_url`. An
        Idempotency-Key makes the retries of this call safe: they never create a second task.
        `on_upload(sent, size)` is called as the file's bytes go out.
        """
        with core.Upload(source, on_upload) as (name, handle):
            call = core.Call(
                "POST",
                "/v1/tasks",
                core.body,
                {
                    "files": {"file": (name, handle)},
                    "data": {"task_type": task_type, **(options or {}), **fields},
                    "headers": {"Idempotency-Key": uuid.uuid4().hex},
                },
            )
            return Task(self, self._send(call, rewind=[handle]))

    def task(self, task_id: str) -> Task:
        return Task(self, self.status(task_id))

    def status(self, task_id: str) -> dict[str, Any]:
        return self._send(core.status(task_id))

    def tasks(self, status: str | None = None, *, page_size: int = 100) -> Iterator[Task]:
        """Your tasks, newest first, page after page; `status` keeps one status or several
        (`"pending,processing"`)."""
        cursor: str | None = None
        while True:
            found = self._send(core.page(status, cursor, page_size))
            for body in found["tasks"]:
                yield Task(self, body)
            cursor = found.get("next_cursor")
            if not cursor:
                return

    def cancel(self, task_id: str) -> Task:
        """Cancel a pending or processing task (its credits are released); for an exported
        one, delete its files. Answers the task as it is now."""
        return Task(self, self._send(core.cancel(task_id)))

    def account(self) -> dict[str, Any]:
        """Your user, credits (`unlimited`, `balance`, `reserved`, `charged_this_month`),
        limits and webhook secret."""
        return self._send(core.account())

    def lookup(
        self,
        numbers: Iterable[str],
        checks: str = "validate",
        *,
        default_region: str | None = None,
    ) -> list[dict[str, str]]:
        """Check up to 1,000 numbers now, in the request: one dict per number, in order, with
        `input` and the fields of its results.csv row, or `input` and `failure`."""
        return self._send(core.lookup(numbers, checks, default_region))

    def checks(self) -> list[dict[str, Any]]:
        return self._send(core.checks())

    def download_url(self, url: str, path: str | os.PathLike[str]) -> Path:
        """Save a result link's zip to `path`, through this client's transport and retries
        (without the API key: the link is signed, and may point at another host)."""
        return self._save(url, Path(path), keyless=True)

    def download_results(self, task_id: str, path: str | os.PathLike[str]) -> Path:
        """Save an exported task's results file itself (no zip) at `path` (an
        APIError with code `task_not_finished` while it runs)."""
        return self._save(core.results_url(task_id), Path(path), keyless=False)

    def _save(self, url: str, target: Path, *, keyless: bool) -> Path:

        def save(response: httpx.Response) -> Path:
            with open(target, "wb") as out:
                for block in response.iter_bytes():
                    out.write(block)
            return target

        return self._send(core.download(url, target), keyless=keyless, consume=save)


class Task(core.TaskView):
    """A task on the server; `status` holds the last status body seen."""

    def __init__(self, client: Client, status: dict[str, Any]) -> None:
        super().__init__(status)
        self._client = client

    def refresh(self) -> Task:
        self.status = self._client.status(self.id)
        return self

    def cancel(self) -> Task:
        self.status = self._client.cancel(self.id).status
        return self

    def wait(
        self,
        poll: float = 2.0,
        on_progress: Callable[[Task], None] | None = None,
        timeout: float | None = None,
    ) -> Task:
        """Poll until the task ends — every 50 ms at first, backing off to every `poll`
        seconds; TaskFailed unless it is exported, WaitTimeout after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for delay in core.poll_delays(poll):
            self.refresh()
            if on_progress is not None:
                on_progress(self)
            if self.finished:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise errors.WaitTimeout(f"task {self.id} is still {self.state}")
            time.sleep(delay)
        self.outcome()
        return self

    def download(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Save the result zip (`<task_id>.zip` by default); a fresh link is asked for first.
        TaskNotFinished while it still runs, TaskFailed if it ended otherwise."""
        self.refresh()
        return self._client.download_url(self.result_url(), path or f"{self.id}.zip")

    def rows(self) -> Iterator[dict[str, str]]:
        """The rows of results.csv as dicts, in input order."""
        with tempfile.TemporaryDirectory() as tmp:
            yield from core.read_rows(self.download(Path(tmp) / f"{self.id}.zip"))
