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
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from bench import e2e
from bench.corpus import numbers

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


def run_task(path: Path, expected: list[str], workers: int, broker: str, tmp: Path) -> float:
    """Seconds from upload start to exported, with `workers` worker processes."""
    with scratch_database() as database:
        env = {"NUMCHECK_DATABASE_URL": database, "NUMCHECK_BROKER_URL": broker}
        data_dir = tmp / f"data-{workers}"
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
            )
            for _ in range(workers)
        ]
        try:
            return e2e.run_task(
                path, data_dir, env, check=lambda body: check_result(body, expected)
            )
        finally:
            for process in processes:
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
