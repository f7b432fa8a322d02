"""Status calls under load: `GET /v1/tasks/{id}` and `POST /v1/gettasks`, half each, offered at
a fixed rate by an httpx asyncio loop, on the embedded default while 1,000,000-line `validate`
tasks run (a new one is uploaded as soon as the last is exported, so one always runs).

    .venv/bin/python -m bench.api_load [--rate 1000] [--seconds 10] [--lines 1000000]
                                       [--connections 32]

The reference, in the same run on the same server: the same load while no task runs, and
`GET /healthz` at the same rate while a task runs. The load is open-loop: request i is due at
start + i/rate and its latency counts from then, so a server (or generator) that falls behind
shows in the percentiles instead of slowing the offered rate down. The generator shares the
machine's cores with the server: its own CPU time is printed beside its figures.

The offered calls go out on kept-alive connections through a minimal HTTP/1.1 client (request
bytes built once, the response read by its Content-Length): httpx's pool cost ~4 ms of CPU per
call, so at 1,000/s the generator alone wanted two cores more than the machine has and measured
itself rather than the server. The set-up (uploads, polls) uses httpx.

The status calls ask about an exported task, so that each answer carries a signed result link
(the most work a status call does). One API key sends everything, so the key's rate limit is
raised for the run: at the default (20/s) nearly every call would be a 429.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.corpus import numbers
from bench.e2e import cache_dir_of, serving, warm_validator_cache

Call = Callable[["RawClient", int], Awaitable[int]]


class RawClient:
    """`size` kept-alive HTTP/1.1 connections to one server; a request waits for a free one.
    A connection that fails is replaced, and the request counts as an error."""

    def __init__(self, base: str, size: int) -> None:
        url = httpx.URL(base)
        self.host, self.port, self.size = url.host, url.port or 80, size
        self._free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> None:
        for _ in range(self.size):
            self._free.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def close(self) -> None:
        while not self._free.empty():
            self._free.get_nowait()[1].close()

    async def request(self, raw: bytes) -> int:
        """Send `raw` (a whole request), read the whole response: its status."""
        reader, writer = await self._free.get()
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            self._free.put_nowait(await asyncio.open_connection(self.host, self.port))
            raise
        self._free.put_nowait((reader, writer))
        return int(head[9:12])


def raw_request(method: str, path: str, key: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {key}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: dict[int | str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu: float = 0.0  # the generator's own CPU seconds
    server_cpu: float = 0.0  # the API server process's CPU seconds (its workers' not counted)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def line(self) -> str:
        done = len(self.latencies)
        errors = ", ".join(f"{k}: {v}" for k, v in self.errors.items()) or "none"
        return (
            f"{self.name:<34}: {done / self.seconds:,.0f} answered/s, "
            f"p50 {self.percentile(50) * 1000:.1f} ms, p99 {self.percentile(99) * 1000:.1f} ms, "
            f"max {max(self.latencies, default=0) * 1000:.0f} ms, errors {errors} "
            f"(CPU per answer: server {self.server_cpu / max(1, done) * 1e6:.0f} us, "
            f"generator {self.cpu / max(1, done) * 1e6:.0f} us)"
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (its own threads, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def offer(
    client: RawClient, call: Call, rate: float, seconds: float, name: str, server: int
) -> Phase:
    """`call` at `rate` per second for `seconds`, open-loop; its latencies from when each was
    due."""
    phase = Phase(name)
    total = int(rate * seconds)
    started_cpu = resource.getrusage(resource.RUSAGE_SELF)
    started_server = cpu_seconds(server)
    started = time.perf_counter()

    async def one(i: int, due: float) -> None:
        try:
            status = await call(client, i)
            if status != 200:
                phase.errors[status] = phase.errors.get(status, 0) + 1
                return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            phase.errors[type(error).__name__] = phase.errors.get(type(error).__name__, 0) + 1
            return
        phase.latencies.append(time.perf_counter() - due)

    pending = set()
    for i in range(total):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        request = asyncio.create_task(one(i, due))
        pending.add(request)
        request.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    phase.seconds = time.perf_counter() - started
    phase.server_cpu = cpu_seconds(server) - started_server
    ended_cpu = resource.getrusage(resource.RUSAGE_SELF)
    phase.cpu = (ended_cpu.ru_utime - started_cpu.ru_utime) + (
        ended_cpu.ru_stime - started_cpu.ru_stime
    )
    return phase


async def wait_exported(client: httpx.AsyncClient, task_id: str) -> None:
    while True:
        body = (await client.get(f"/v1/tasks/{task_id}")).json()
        if body["status"] == "exported":
            return
        if body["status"] not in ("pending", "processing"):
            raise SystemExit(f"task ended {body['status']}: {body.get('message')}")
        await asyncio.sleep(0.2)


async def submit(client: httpx.AsyncClient, path: Path) -> str:
    response = await client.post(
        "/v1/tasks",
        files={"file": ("n.txt", path.read_bytes())},
        data={"task_type": "validate"},
        timeout=600,
    )
    response.raise_for_status()
    task_id: str = response.json()["task_id"]
    return task_id


async def keep_busy(client: httpx.AsyncClient, path: Path, stop: asyncio.Event) -> int:
    """Upload `path` as a task, again as soon as it is exported, until `stop`; tasks run."""
    count = 0
    while not stop.is_set():
        await wait_exported(client, await submit(client, path))
        count += 1
    return count


async def run(
    base: str, key: str, server: int, big: Path, small: Path, args: argparse.Namespace
) -> None:
    async with (
        # No keep-alive for the uploads and their polls: the server closes a connection idle
        # for its head timeout, which a long upload's poll loop can leave one.
        httpx.AsyncClient(
            base_url=base,
            headers={"X-API-Key": key},
            timeout=600,
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as side,
    ):
        task_id = await submit(side, small)
        await wait_exported(side, task_id)
        client = RawClient(base, args.connections)
        await client.open()
        by_path = raw_request("GET", f"/v1/tasks/{task_id}", key)
        by_body = raw_request(
            "POST", "/v1/gettasks", key, json.dumps({"task_id": task_id}).encode()
        )
        health_call = raw_request("GET", "/healthz", key)

        def status(client: RawClient, i: int) -> Awaitable[int]:
            return client.request(by_body if i % 2 else by_path)

        def healthz(client: RawClient, i: int) -> Awaitable[int]:
            return client.request(health_call)

        await offer(
            client, status, args.rate, 1, "warm-up", server
        )  # connections opened, code paths run
        idle = await offer(
            client, status, args.rate, args.seconds, "status, no task (reference)", server
        )
        print(idle.line(), flush=True)

        stop = asyncio.Event()
        busy = asyncio.create_task(keep_busy(side, big, stop))
        await asyncio.sleep(1.0)  # the first upload is in and processing
        health = await offer(
            client, healthz, args.rate, args.seconds, "healthz, task running (ref.)", server
        )
        print(health.line(), flush=True)
        loaded = await offer(
            client, status, args.rate, args.seconds, "status, task running", server
        )
        stop.set()
        tasks = await busy
        await client.close()

    print(
        f"offered         : {args.rate:,.0f} requests/s for {args.seconds:.0f} s each, "
        f"{args.connections} connections, {tasks} tasks of {args.lines:,} lines ran meanwhile"
    )
    print(loaded.line())
    p99 = loaded.percentile(99)
    print(
        f"ratio           : p99 {p99 / idle.percentile(99):.2f}x the idle server's, "
        f"{p99 / health.percentile(99):.2f}x healthz's under the same task"
    )
    met = p99 <= 0.020 and len(loaded.latencies) >= 0.99 * args.rate * args.seconds
    print(
        f"target          : {args.rate:,.0f}/s with p99 <= 20 ms while a task runs: "
        f"{'met' if met else 'missed'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.txt", Path(tmp) / "small.txt"
        lines = numbers(args.lines)
        big.write_text("\n".join(lines) + "\n")
        small.write_text("\n".join(lines[:1000]) + "\n")
        data_dir = Path(tmp) / "data"
        env = {
            "NUMCHECK_CACHE_DIR": str(Path(tmp) / "cache"),
            "NUMCHECK_RATE_LIMIT_PER_SECOND": str(args.rate * 100),
            "NUMCHECK_RATE_LIMIT_BURST": str(int(args.rate * 100)),
        }
        warm_validator_cache(cache_dir_of(data_dir, env))
        started: list[subprocess.Popen[bytes]] = []
        with serving(data_dir, env, started) as (base, key), contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(base, key, started[0].pid, big, small, args))


if __name__ == "__main__":
    main()
