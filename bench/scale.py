"""Scale-out: the 1,000,000-line `validate` task on PostgreSQL + a broker, run once with one
`numcheck worker` process and once with two, in the same run; prints seconds for each and the
speed-up. Every run is checked: exact counts, one result row per input line, in input order.

    .venv/bin/python -m bench.scale [--lines 1000000] [--broker redis://127.0.0.1:6379/15]

Needs PostgreSQL (NUMCHECK_TEST_POSTGRES, default postgresql://postgres@127.0.0.1:5432/postgres)
and the broker. Each worker process runs with concurrency 1, so "2 workers" means two processes
(as on two machines); the API server, PostgreSQL and the broker share the same cores.
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
from pathlib import Path

import httpx
import psycopg

from bench.corpus import numbers
from bench.e2e import free_port

E164 = re.compile(r"\+[1-9][0-9]+")
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


def numcheck(*args: str, env: dict[str, str], **popen: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "numcheck", *args], env=env, **popen)  # type: ignore[call-overload]


def run_task(path: Path, expected: list[str], workers: int, broker: str, tmp: Path) -> float:
    """Seconds from upload start to exported, with `workers` worker processes."""
    with scratch_database() as database:
        data_dir = tmp / f"data-{workers}"
        env = {
            **os.environ,
            "NUMCHECK_DATA_DIR": str(data_dir),
            "NUMCHECK_DATABASE_URL": database,
            "NUMCHECK_BROKER_URL": broker,
            "NUMCHECK_LOG_LEVEL": "WARNING",
        }
        subprocess.run(
            [sys.executable, "-m", "numcheck", "db", "upgrade"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        port = free_port()
        processes = [
            numcheck("serve", "--port", str(port), env=env, stdout=subprocess.DEVNULL),
            *(
                numcheck(
                    "worker",
                    env={**env, "NUMCHECK_WORKERS": "1"},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,  # Celery warns about root; the run checks itself
                )
                for _ in range(workers)
            ),
        ]
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            time.sleep(3)  # let the workers connect to the broker before the clock starts
            key = (data_dir / "admin-key.txt").read_text().strip()
            with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=600) as client:
                started = time.perf_counter()
                with open(path, "rb") as handle:
                    created = client.post(
                        "/v1/tasks",
                        files={"file": ("n.txt", handle)},
                        data={"task_type": "validate"},
                    )
                created.raise_for_status()
                task_id = created.json()["task_id"]
                while True:
                    body = client.get(f"/v1/tasks/{task_id}").json()
                    if body["status"] == "exported":
                        seconds = time.perf_counter() - started
                        break
                    if body["status"] not in ("pending", "processing"):
                        raise SystemExit(f"task ended {body['status']}: {body.get('message')}")
                    time.sleep(0.05)
                check_result(body, expected)
                return seconds
        finally:
            for process in reversed(processes):
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)


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
        1 for row, line in zip(results, kept) if E164.fullmatch(line) and row[0] != line
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
    print(
        f"1 worker process  : {args.lines:,} lines in {one:.2f} s = {args.lines / one:,.0f} numbers/s"
    )
    print(
        f"2 worker processes: {args.lines:,} lines in {two:.2f} s = {args.lines / two:,.0f} numbers/s"
    )
    print(
        f"speed-up          : {one / two:.2f}x ({os.cpu_count()} cores, PostgreSQL + broker on the same machine)"
    )


if __name__ == "__main__":
    main()
