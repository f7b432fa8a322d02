"""Memory of the worker processes: resident set (VmRSS) at rest after a task, and the peak
(VmHWM, reset before the task) while a 1,000,000-line `validate` task runs, which is the
per-chunk peak (a worker holds one chunk at a time). The embedded pool's processes, and with
`--celery` a `numcheck worker`'s Celery processes (PostgreSQL and the broker as bench.scale).

    .venv/bin/python -m bench.memory [--lines 1000000] [--celery] [--broker redis://…]

The reference, in the same run: a bare Python interpreter of the same venv, and one that has
imported phonenumbers (what checking numbers the slow way needs), both at rest.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from bench import e2e
from bench.corpus import numbers

MIB = 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def is_worker(pid: int) -> bool:
    """A pool or Celery process, not multiprocessing's resource tracker."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    return b"resource_tracker" not in cmdline


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


def run_task(client: httpx.Client, path: Path) -> float:
    started = time.perf_counter()
    with open(path, "rb") as handle:
        created = client.post(
            "/v1/tasks", files={"file": ("n.txt", handle)}, data={"task_type": "validate"}
        )
    created.raise_for_status()
    task_id = created.json()["task_id"]
    while (body := client.get(f"/v1/tasks/{task_id}").json())["status"] != "exported":
        if body["status"] not in ("pending", "processing"):
            raise SystemExit(f"task ended {body['status']}: {body.get('message')}")
        time.sleep(0.1)
    return time.perf_counter() - started


def measure(
    label: str, base: str, key: str, workers: Callable[[], list[int]], small: Path, big: Path
) -> None:
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=600) as client:
        run_task(client, small)  # the workers are started and have each run a chunk or two
        time.sleep(1)
        pids = workers()
        rest_before = {pid: status_kib(pid, "VmRSS") for pid in pids}
        for pid in pids:
            reset_peak(pid)
        seconds = run_task(client, big)
        time.sleep(1)
        pids = [pid for pid in workers() if pid in rest_before]
        for pid in pids:
            print(
                f"{label} {pid:>7}: at rest {rest_before[pid] * 1024 / MIB:6.1f} MiB before, "
                f"{status_kib(pid, 'VmRSS') * 1024 / MIB:6.1f} MiB after; peak during the task "
                f"{status_kib(pid, 'VmHWM') * 1024 / MIB:6.1f} MiB ({seconds:.1f} s task)"
            )


def reference(code: str) -> float:
    """MiB resident of a Python process of this venv that ran `code` and now sleeps."""
    process = subprocess.Popen(
        [sys.executable, "-c", f"{code}; import sys, time; print(flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        return status_kib(process.pid, "VmRSS") * 1024 / MIB
    finally:
        process.kill()
        process.wait()


@contextlib.contextmanager
def celery_cluster(broker: str, tmp: Path) -> Iterator[tuple[str, str, Callable[[], list[int]]]]:
    from bench import scale

    with (
        scale.cluster(1, broker, tmp / "data-celery") as (data_dir, env, processes),
        e2e.serving(data_dir, env) as (base, key),
    ):
        main = processes[0].pid
        yield base, key, lambda: [main, *[pid for pid in children(main) if is_worker(pid)]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--celery", action="store_true", help="also a `numcheck worker`")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        lines = numbers(args.lines)
        big, small = tmp / "big.txt", tmp / "small.txt"
        big.write_text("\n".join(lines) + "\n")
        small.write_text("\n".join(lines[:150_000]) + "\n")  # three chunks
        os.environ["NUMCHECK_CACHE_DIR"] = str(tmp / "cache")
        e2e.warm_validator_cache(tmp / "cache")

        started: list[subprocess.Popen[bytes]] = []
        with e2e.serving(tmp / "data", {}, started) as (base, key):
            server = started[0].pid

            def pool() -> list[int]:
                return [pid for pid in children(server) if is_worker(pid)]

            measure("embedded pool", base, key, pool, small, big)
            print(f"API server        : {status_kib(server, 'VmRSS') * 1024 / MIB:6.1f} MiB")
        if args.celery:
            with celery_cluster(args.broker, tmp) as (base, key, celery):
                measure("celery worker", base, key, celery, small, big)

    bare = reference("pass")
    with_phonenumbers = reference("import phonenumbers; phonenumbers.parse('+442079460958')")
    print(
        f"reference         : a bare interpreter {bare:.1f} MiB; with phonenumbers "
        f"{with_phonenumbers:.1f} MiB (same venv, same run)"
    )
    print(f"target            : a worker at rest <= 120 MiB ({120 / bare:.1f}x the bare one)")


if __name__ == "__main__":
    main()
