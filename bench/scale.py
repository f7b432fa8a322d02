"""Scale-out: the 1,000,000-line `validate` task on PostgreSQL + a broker, run once with one
`numcheck worker` process and once with two, in the same run; prints seconds for each and the
speed-up. A third run measures recovery: two worker processes, one killed with -9 a third of
the way through, default leases; it prints the seconds from the kill until the counters move
again, until the chunks the dead worker held are done again, and until the task is exported.
Every run is checked: exact counts, one result row per input line, in input order.

    .venv/bin/python -m bench.scale [--lines 1000000] [--broker redis://127.0.0.1:6379/15]

Needs PostgreSQL (NUMCHECK_TEST_POSTGRES, default postgresql://postgres@127.0.0.1:5432/postgres)
and the broker. Each worker process runs with concurrency 1, so "2 workers" means two processes
(as on two machines); the API server, PostgreSQL and the broker share the same cores. The clock
starts once the API server is ready (/readyz) and every worker answers a Celery ping.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

from bench import e2e
from bench.corpus import numbers
from numcheck.dispatch.celery import make_app

E164 = re.compile(r"\+[1-9][0-9]+")
POLL_SECONDS = 0.1  # 10 status calls a second, inside the key's rate limit; times to +-0.1 s
POSTGRES_ADMIN_URL = os.environ.get(
    "NUMCHECK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"numcheck_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_task(path: Path, expected: list[str], workers: int, broker: str, tmp: Path) -> float:
    """Seconds from upload start to exported, with `workers` worker processes."""
    with cluster(workers, broker, tmp / f"data-{workers}") as (data_dir, env, _):
        return e2e.run_task(path, data_dir, env, check=lambda body: check_result(body, expected))


@contextmanager
def cluster(
    workers: int, broker: str, data_dir: Path
) -> Iterator[tuple[Path, dict[str, str], list[subprocess.Popen[bytes]]]]:
    """A scratch database, upgraded, and `workers` worker processes of concurrency 1, each in a
    process group of its own (a kill takes its prefork child with it); the caller starts the
    API server with the environment yielded."""
    with scratch_database() as database:
        env = {"NUMCHECK_DATABASE_URL": database, "NUMCHECK_BROKER_URL": broker}
        common = {**os.environ, "NUMCHECK_DATA_DIR": str(data_dir), **env}
        subprocess.run(
            [sys.executable, "-m", "numcheck", "db", "upgrade"],
            env=common,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # Started first: they connect to the broker while the server starts.
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "numcheck", "worker"],
                env={**common, "NUMCHECK_WORKERS": "1", "NUMCHECK_LOG_LEVEL": "WARNING"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # Celery warns about root; the run checks itself
                start_new_session=True,
            )
            for _ in range(workers)
        ]
        try:
            wait_for_workers(broker, workers)
            yield data_dir, env, processes
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)


def wait_for_workers(broker: str, count: int, timeout: float = 120) -> None:
    """Until `count` workers answer a Celery ping: consuming, so the clock (started once the
    API server is ready) does not count their start, as the embedded pool's readiness does not."""
    app = make_app(broker)
    deadline = time.monotonic() + timeout
    while len(app.control.ping(timeout=0.5)) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} worker processes did not start")


@dataclass
class Recovery:
    moved: float  # seconds from the kill until the counters moved again
    redone: float  # ... until every chunk the dead worker held (or had queued) was done again
    exported: float  # ... until the task was exported


def measure_recovery(path: Path, expected: list[str], broker: str, tmp: Path) -> Recovery:
    """Two worker processes; one is killed with -9 (its whole process group) once a third of the
    lines are counted. Default leases, as deployed."""
    with (
        cluster(2, broker, tmp / "data-recovery") as (data_dir, env, processes),
        e2e.serving(data_dir, env) as (base, key),
        httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=600) as client,
        psycopg.connect(conninfo(env), autocommit=True) as db,
    ):
        return kill_one_and_watch(client, db, processes[0], path, expected)


def kill_one_and_watch(
    client: httpx.Client,
    db: psycopg.Connection,
    victim: subprocess.Popen[bytes],
    path: Path,
    expected: list[str],
) -> Recovery:
    with open(path, "rb") as handle:
        created = client.post(
            "/v1/tasks", files={"file": ("n.txt", handle)}, data={"task_type": "validate"}
        )
    created.raise_for_status()
    task_id = created.json()["task_id"]
    body = status_of(client, task_id)
    while counted(body) < body["total"] / 3:
        if body["status"] not in ("pending", "processing"):
            raise SystemExit(f"the task ended {body['status']} before the kill")
        time.sleep(POLL_SECONDS)
        body = status_of(client, task_id)

    os.killpg(victim.pid, signal.SIGKILL)
    killed = time.perf_counter()
    victim.wait()
    now = datetime.now(UTC).replace(tzinfo=None)  # leases are stored as naive UTC
    lost = [
        idx
        for (idx,) in db.execute(
            "SELECT idx FROM chunks WHERE task_id = %s AND status = 'pending' "
            "AND leased_until > %s",
            (task_id, now),
        )
    ]
    before = counted(status_of(client, task_id))
    moved = redone = None
    while True:
        body = status_of(client, task_id)
        elapsed = time.perf_counter() - killed
        if moved is None and counted(body) > before:
            moved = elapsed
        if redone is None and not pending(db, task_id, lost):
            redone = elapsed
        if body["status"] == "exported":
            check_result(body, expected)
            return Recovery(moved or elapsed, redone or elapsed, elapsed)
        if body["status"] != "processing":
            raise SystemExit(f"task ended {body['status']}: {body.get('message')}")
        time.sleep(POLL_SECONDS)


def status_of(client: httpx.Client, task_id: str) -> dict:
    response = client.get(f"/v1/tasks/{task_id}")
    response.raise_for_status()
    return response.json()


def counted(body: dict) -> int:
    return body["success"] + body["failure"]


def pending(db: psycopg.Connection, task_id: str, chunks: list[int]) -> int:
    return db.execute(
        "SELECT count(*) FROM chunks WHERE task_id = %s AND idx = ANY(%s) AND status = 'pending'",
        (task_id, chunks),
    ).fetchone()[0]


def conninfo(env: dict[str, str]) -> str:
    return env["NUMCHECK_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


def check_result(body: dict, expected: list[str]) -> None:
    """Exact counts, one row per input line, in input order."""
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(body["result_url"], timeout=600).content))
    results = list(csv.reader(io.StringIO(archive.read("results.csv").decode())))[1:]
    failed = []
    if "failed.csv" in archive.namelist():
        failed = list(csv.reader(io.StringIO(archive.read("failed.csv").decode())))[1:]
    failed_lines = [int(row[0]) for row in failed]
    skipped = set(failed_lines)
    kept = [line for number, line in enumerate(expected, 1) if number not in skipped]
    assert (body["total"], body["success"], body["failure"]) == (
        len(expected),
        len(results),
        len(failed),
    ), body
    assert failed_lines == sorted(failed_lines), "failed rows out of input order"
    assert len(results) == len(kept), (len(results), len(kept))
    # The corpus's well-formed lines are E.164 already: each row echoes its own line.
    mismatched = sum(
        1
        for row, line in zip(results, kept, strict=True)
        if E164.fullmatch(line) and row[0] != line
    )
    assert mismatched == 0, f"{mismatched} result rows are not in input order"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()

    lines = numbers(args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "numbers.txt"
        path.write_text("\n".join(lines) + "\n")
        one = run_task(path, lines, 1, args.broker, Path(tmp))
        two = run_task(path, lines, 2, args.broker, Path(tmp))
        recovery = measure_recovery(path, lines, args.broker, Path(tmp))
    for label, seconds in (("1 worker process  ", one), ("2 worker processes", two)):
        rate = args.lines / seconds
        print(f"{label}: {args.lines:,} lines in {seconds:.2f} s = {rate:,.0f} numbers/s")
    print(
        f"speed-up          : {one / two:.2f}x ({os.cpu_count()} cores, PostgreSQL + broker "
        "on the same machine)"
    )
    print(
        f"recovery          : 1 of 2 worker processes killed (-9) at 1/3 of the task, default "
        f"lease: counters moving again after {recovery.moved:.1f} s, its chunks done again "
        f"after {recovery.redone:.1f} s, task exported {recovery.exported:.1f} s after the kill"
    )


if __name__ == "__main__":
    main()
