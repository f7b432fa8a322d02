"""End to end: a 1,000,000-line `validate` task over HTTP on the embedded default, upload start
to exported, beside phonenumbers' single-core rate on the same lines in the same run.

    .venv/bin/python -m bench.e2e [--lines 1000000] [--reference-lines 100000]
                                  [--formats csv,xlsx,jsonl,csv+failed] [--traced] [--cold]

The clock starts once the server is ready (/readyz 200: its worker processes are up, as a load
balancer would wait for); `--cold` also times the task on a server just started, uploaded as
soon as /healthz answers.

With several `--formats` (the task's result_format; `+failed` adds include_failed) each runs as
a task of its own on a fresh server, and its time is printed beside the first format's.
`--traced` runs the first format's task a second time with OpenTelemetry on
(`OTEL_TRACES_EXPORTER=console`, its output discarded) and prints both times: what tracing costs
when on. Off (the first run) the code makes no span and reads no trace context.

The task runs on a warm validator cache, as every task after the first one does: the tables a
phonenumbers version needs (the geocoder's, which the first `validate` batch builds, included)
are built before the clock starts, and the time that took is printed apart.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from bench.corpus import numbers, phonenumbers_rate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def warm_validator_cache(cache_dir: Path) -> float:
    """Build (or find) every compiled table in `cache_dir`; the seconds it took."""
    from numcheck.numbers.compiled import validator

    started = time.perf_counter()
    validator.CompiledValidator.load(cache_dir).describe_lines(["+12025551234"])
    return time.perf_counter() - started


def cache_dir_of(data_dir: Path, env: dict[str, str]) -> Path:
    """Where a server started with `env` on `data_dir` keeps the validator cache."""
    configured = env.get("NUMCHECK_CACHE_DIR") or os.environ.get("NUMCHECK_CACHE_DIR")
    return Path(configured) if configured else data_dir / "cache"


@contextlib.contextmanager
def serving(
    data_dir: Path,
    env: dict[str, str],
    started: list[subprocess.Popen[bytes]] | None = None,
    probe: str = "/readyz",
) -> Iterator[tuple[str, str]]:
    """A `numcheck serve` on `data_dir` with `env` for the block, once `probe` answers 200 (by
    default /readyz: its workers are up, as a load balancer would wait for): its base URL and
    admin key. The process is appended to `started`, for a caller that measures it."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "numcheck", "serve", "--port", str(port)],
        env={
            **os.environ,
            "NUMCHECK_DATA_DIR": str(data_dir),
            "NUMCHECK_LOG_LEVEL": "WARNING",
            **env,
        },
        stdout=subprocess.DEVNULL,
    )
    if started is not None:
        started.append(server)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}{probe}").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        yield base, (data_dir / "admin-key.txt").read_text().strip()
    finally:
        server.terminate()
        server.wait()


def run_task(
    path: Path,
    data_dir: Path,
    env: dict[str, str],
    check: Callable[[dict], None] = lambda status: None,
    fields: dict[str, str] | None = None,
    probe: str = "/readyz",
) -> float:
    """Start a server and time one task from upload start to exported, once `probe` answers;
    `check` then looks at its final status (and may fetch the result) while the server still
    runs. The validator cache is warmed first (outside the timing): a first task after an
    install pays the tables' build once, which is not what this measures."""
    warm_validator_cache(cache_dir_of(data_dir, env))
    with (
        serving(data_dir, env, probe=probe) as (base, key),
        httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=600) as client,
    ):
        started = time.perf_counter()
        with open(path, "rb") as handle:
            created = client.post(
                "/v1/tasks",
                files={"file": ("n.txt", handle)},
                data={"task_type": "validate", **(fields or {})},
            )
        created.raise_for_status()
        task_id = created.json()["task_id"]
        while True:
            body = client.get(f"/v1/tasks/{task_id}").json()
            if body["status"] == "exported":
                seconds = time.perf_counter() - started
                check(body)
                return seconds
            if body["status"] not in ("pending", "processing"):
                raise SystemExit(f"task ended {body['status']}: {body.get('message')}")
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--traced", action="store_true", help="also time it with tracing on")
    parser.add_argument(
        "--reference-lines",
        type=int,
        default=100_000,
        help="lines of the same file timed through phonenumbers (a sample keeps the run short)",
    )
    parser.add_argument("--formats", default="csv", help="comma-separated; e.g. csv,xlsx")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="also time the task on a server just started: upload as soon as /healthz answers, "
        "while its workers still start",
    )
    args = parser.parse_args()

    lines = numbers(args.lines)
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "numbers.txt"
        path.write_text("\n".join(lines) + "\n")
        cache = Path(tmp) / "cache"
        build = warm_validator_cache(cache)
        env = {"NUMCHECK_CACHE_DIR": str(cache)}
        for n, name in enumerate(args.formats.split(",")):
            result_format, _, failed = name.partition("+")
            fields = {"result_format": result_format}
            if failed:
                fields["include_failed"] = "true"
            times[name] = run_task(path, Path(tmp) / f"data{n}", env, fields=fields)
        first, seconds = next(iter(times.items()))
        cold = (
            run_task(
                path,
                Path(tmp) / "cold",
                env,
                fields={"result_format": first.partition("+")[0]},
                probe="/healthz",
            )
            if args.cold
            else None
        )
        traced = (
            run_task(
                path,
                Path(tmp) / "traced",
                {**env, "OTEL_TRACES_EXPORTER": "console"},
                fields={"result_format": first.partition("+")[0]},
            )
            if args.traced
            else None
        )
    for name, took in list(times.items())[1:]:
        print(f"{name:<16}: {took:.2f} s = {took / seconds:.2f}x the {first} task's time")
    reference = phonenumbers_rate(lines[: args.reference_lines])
    rate = args.lines / seconds
    print(
        f"numcheck e2e    : {args.lines:,} lines in {seconds:.2f} s = {rate:,.0f} numbers/s "
        f"({os.cpu_count()} cores, embedded default, {first} results)"
    )
    print(
        f"phonenumbers    : {reference:,.0f} numbers/s on one core "
        f"({args.reference_lines:,} lines of the same file, the same columns)"
    )
    print(f"ratio           : {rate / reference:.2f}x")
    print(
        f"tables          : {build:.1f} s to build or load them before the run (once per version)"
    )
    if cold is not None:
        print(
            f"cold start      : {cold:.2f} s for the same task on a server just started "
            "(uploaded at its first /healthz 200, its workers still starting)"
        )
    if traced is not None:
        print(
            f"tracing on      : {traced:.2f} s for the same task = {seconds / traced:.2f}x the "
            "rate with tracing off (console exporter, output discarded)"
        )


if __name__ == "__main__":
    main()
