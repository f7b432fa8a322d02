"""`AsyncClient` and `AsyncTask`: the surface of `Client` and `Task` for asyncio code, on
httpx.AsyncClient; requests, retries and answers are `core`'s, as the sync client's are.

async with AsyncClient(url, key) as client:
    task = await client.submit("numbers.txt", "validate")
    await task.wait()
    async for row in task.rows():
        ...
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from numcheck.client import core, errors

T = TypeVar("T")


class AsyncClient:
    def __init__(
        self,
        server: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.server,
            headers={core.KEY_HEADER: api_key},
            timeout=timeout,
            transport=transport,
        )
        self._policy = core.RetryPolicy(retries, backoff)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(
        self,
        call: core.Call[T],
        *,
        keyless: bool = False,
        consume: Callable[[httpx.Response], Awaitable[T]] | None = None,
        rewind: Sequence[IO[bytes]] = (),
    ) -> T:
        """As `Client._send`."""
        for attempt in itertools.count():
            for handle in rewind:
                handle.seek(0)
            request = core.build(self._http, call, keyless=keyless)
            try:
                response = await self._http.send(request, stream=True)
                try:
                    if response.status_code < 400:
                        if consume is not None:
                            return await consume(response)
                        await response.aread()
                        return call.parse(response)
                    await response.aread()
                finally:
                    await response.aclose()
            except httpx.TransportError as exc:
                await asyncio.sleep(self._policy.after_error(attempt, exc, request))
                continue
            await asyncio.sleep(self._policy.after_response(attempt, response))
        raise AssertionError("unreachable")

    async def submit(
        self,
        source: str | os.PathLike[str] | Iterable[str],
        task_type: str,
        options: Mapping[str, str] | None = None,
        *,
        on_upload: Callable[[int, int], None] | None = None,
        **fields: str,
    ) -> AsyncTask:
        """As `Client.submit`."""
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
            return AsyncTask(self, await self._send(call, rewind=[handle]))

    async def task(self, task_id: str) -> AsyncTask:
        return AsyncTask(self, await self.status(task_id))

    async def status(self, task_id: str) -> dict[str, Any]:
        return await self._send(core.status(task_id))

    async def tasks(
        self, status: str | None = None, *, page_size: int = 100
    ) -> AsyncIterator[AsyncTask]:
        """As `Client.tasks`: `async for task in client.tasks("processing")`."""
        cursor: str | None = None
        while True:
            found = await self._send(core.page(status, cursor, page_size))
            for body in found["tasks"]:
                yield AsyncTask(self, body)
            cursor = found.get("next_cursor")
            if not cursor:
                return

    async def cancel(self, task_id: str) -> AsyncTask:
        return AsyncTask(self, await self._send(core.cancel(task_id)))

    async def account(self) -> dict[str, Any]:
        return await self._send(core.account())

    async def lookup(
        self,
        numbers: Iterable[str],
        checks: str = "validate",
        *,
        default_region: str | None = None,
    ) -> list[dict[str, str]]:
        return await self._send(core.lookup(numbers, checks, default_region))

    async def checks(self) -> list[dict[str, Any]]:
        return await self._send(core.checks())

    async def download_url(self, url: str, path: str | os.PathLike[str]) -> Path:
        return await self._save(url, Path(path), keyless=True)

    async def download_results(self, task_id: str, path: str | os.PathLike[str]) -> Path:
        """Save an exported task's results file itself (no zip) at `path`."""
        return await self._save(core.results_url(task_id), Path(path), keyless=False)

    async def _save(self, url: str, target: Path, *, keyless: bool) -> Path:

        async def save(response: httpx.Response) -> Path:
            with open(target, "wb") as out:
                async for block in response.aiter_bytes():
                    out.write(block)
            return target

        return await self._send(core.download(url, target), keyless=keyless, consume=save)


class AsyncTask(core.TaskView):
    """As `Task`, with coroutines."""

    def __init__(self, client: AsyncClient, status: dict[str, Any]) -> None:
        super().__init__(status)
        self._client = client

    async def refresh(self) -> AsyncTask:
        self.status = await self._client.status(self.id)
        return self

    async def cancel(self) -> AsyncTask:
        self.status = (await self._client.cancel(self.id)).status
        return self

    async def wait(
        self,
        poll: float = 2.0,
        on_progress: Callable[[AsyncTask], None] | None = None,
        timeout: float | None = None,
    ) -> AsyncTask:
        deadline = None if timeout is None else time.monotonic() + timeout
        for delay in core.poll_delays(poll):
            await self.refresh()
            if on_progress is not None:
                on_progress(self)
            if self.finished:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise errors.WaitTimeout(f"task {self.id} is still {self.state}")
            await asyncio.sleep(delay)
        self.outcome()
        return self

    async def download(self, path: str | os.PathLike[str] | None = None) -> Path:
        await self.refresh()
        return await self._client.download_url(self.result_url(), path or f"{self.id}.zip")

    async def rows(self) -> AsyncIterator[dict[str, str]]:
        """The rows of results.csv; the zip is downloaded asynchronously, then read locally."""
        with tempfile.TemporaryDirectory() as tmp:
            archive = await self.download(Path(tmp) / f"{self.id}.zip")
            for row in core.read_rows(archive):
                yield row
