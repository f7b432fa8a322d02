"""A 50,000,000-entry registry, each figure beside its reference measured in the same run:

- load (one core): numcheck's `registry load` path (normalize, hash, sort, publish) beside
  `sort -u` of the same file and a Python `set` of keyed `hashlib` BLAKE2b digests of its lines,
  with the peak RSS of each (each runs in a child process of its own);
- 1,000,000 lookups (hashing included, one core, half of them members) beside the same lookups
  one by one with `hashlib` in that Python set; the registry check's own path (normalization
  included) printed too;
- a 1,000,000-line task of the registry (`task_type` = its name) beside a `validate` task of
  the same file, upload start to exported on the embedded default.

    .venv/bin/python -m bench.registry [--entries 50000000] [--lookups 1000000]
                                       [--task-lines 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.corpus import numbers as corpus
from bench.e2e import serving, warm_validator_cache
from numcheck.checks.base import Failure
from numcheck.checks.registry import RegistryCheck
from numcheck.config import Settings
from numcheck.registries import loading, versions
from numcheck.registries.hashing import KeyedHasher
from numcheck.registries.keys import registry_key
from numcheck.registries.snapshot import Snapshot
from numcheck.storage import db
from numcheck.storage.stores import Stores

BATCH = 1_000_000
NAME = "bench"


def one_core() -> set[int]:
    # The last core: other benchmarks (bench.validate) pin the first.
    return {sorted(os.sched_getaffinity(0))[-1]}


def pin_one_core() -> None:
    os.sched_setaffinity(0, one_core())


def numbers_of(values: np.ndarray) -> list[str]:
    """German mobile numbers (+4915x, 9 more digits): 10^9 of them to draw from."""
    return [f"+4915{value:09d}" for value in values.tolist()]


def write_source(path: Path, entries: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w") as out:
        for start in range(0, entries, BATCH):
            values = rng.integers(0, 10**9, size=min(BATCH, entries - start))
            out.write("\n".join(numbers_of(values)) + "\n")


def queries_of(lookups: int, seed: int) -> list[str]:
    """Half members (the source's first numbers), half drawn afresh, shuffled; the strings
    made in order, as a file's lines are (shuffling the string objects themselves scatters
    them in memory, which no task does)."""
    members = np.random.default_rng(seed).integers(0, 10**9, size=lookups // 2)
    strangers = np.random.default_rng(seed + 1).integers(0, 10**9, size=lookups - lookups // 2)
    values = np.concatenate([members, strangers])
    np.random.default_rng(seed + 2).shuffle(values)
    return numbers_of(values)


def mapping_rss_mb(path: Path) -> float:
    """Resident size of this process's mappings of `path` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if "-" in line.split(" ", 1)[0] and len(line.split()) >= 5:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total / 1024


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_mb(field: str) -> float:
    """A size from /proc/self/status (VmRSS: resident now; VmHWM: peak since the last reset)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> None:
    """Start VmHWM afresh at the current RSS (Linux: 5 to clear_refs), so the load's own peak
    is not hidden by an earlier one (the validator's tables being built)."""
    Path("/proc/self/clear_refs").write_text("5")


def load_phase(data_dir: str, source: str, queue) -> None:  # type: ignore[no-untyped-def]
    pin_one_core()
    stores = Stores.open(Settings(data_dir=Path(data_dir)))
    db.upgrade(stores.engine)
    from numcheck.numbers.compiled import validator

    validator.shared()  # its tables are the process's, not the load's
    earlier, before = peak_rss_mb(), status_mb("VmRSS")
    reset_peak_rss()
    started = time.perf_counter()
    run = loading.start(stores, NAME, csv_input=None, default_region=None)
    with open(source, "rb") as handle:
        while block := handle.read(1 << 20):
            run.feed(block)
    report = loading.publish(stores, NAME, "replace", run, record=lambda _session, _report: None)
    seconds = time.perf_counter() - started
    queue.put((seconds, report.entries, report.duplicates, before, status_mb("VmHWM"), earlier))


def python_phase(source: str, key: bytes, lookups: int, seed: int, queue) -> None:  # type: ignore[no-untyped-def]
    """The reference: keyed BLAKE2b of each line with hashlib into a Python set, then the
    lookups one by one."""
    pin_one_core()
    keyed = hashlib.blake2b(key=key, digest_size=8)
    queries = queries_of(lookups, seed)
    started = time.perf_counter()
    table: set[int] = set()
    with open(source, "rb") as handle:
        for line in handle:
            hasher = keyed.copy()
            hasher.update(line.rstrip(b"\n"))
            table.add(int.from_bytes(hasher.digest(), "little"))
    load = time.perf_counter() - started
    peak = peak_rss_mb()
    started = time.perf_counter()
    hits = 0
    for number in queries:
        hasher = keyed.copy()
        hasher.update(number.encode())
        hits += int.from_bytes(hasher.digest(), "little") in table
    queue.put((load, peak, time.perf_counter() - started, hits, len(table)))


def lookup_phase(data_dir: str, lookups: int, seed: int, queue) -> None:  # type: ignore[no-untyped-def]
    pin_one_core()
    stores = Stores.open(Settings(data_dir=Path(data_dir)))
    with stores.sessions.begin() as session:
        version = versions.current(session, NAME)
        assert version is not None
        key, digest, version_id = (
            versions.snapshot_key(NAME, version.version),
            version.digest,
            version.id,
        )
        facts = {"version": version.version, "entries": version.entries}
    path = stores.blobs.local_path(key)
    snapshot = Snapshot.open(path)
    hasher = KeyedHasher(registry_key(stores.settings)).with_digest(digest)
    queries = queries_of(lookups, seed)
    timings = []
    for _ in range(3):  # the first maps the snapshot and builds its directory
        started = time.perf_counter()
        found = snapshot.contains(hasher.digests(queries))
        timings.append(time.perf_counter() - started)
    mapped = mapping_rss_mb(path)
    check = RegistryCheck(
        NAME,
        version=facts["version"],
        version_id=version_id,
        entries=facts["entries"],
        snapshot=lambda: snapshot,
        hasher=hasher,
    )
    chunk = Settings().chunk_lines  # a task's batches are its chunks
    started = time.perf_counter()
    outcomes = []
    for at in range(0, len(queries), chunk):
        outcomes += check.check_batch(queries[at : at + chunk], None).outcomes
    checked = time.perf_counter() - started
    agree = sum(
        1
        for outcome, member in zip(outcomes, found.tolist(), strict=True)
        if not isinstance(outcome, Failure) and (outcome[1] == "yes") == member
    )
    queue.put((timings, checked, int(found.sum()), agree, mapped, len(snapshot), digest))


def sort_u(source: Path) -> tuple[float, float]:
    """`sort -u` of the file (C locale, one core): seconds and peak RSS in MiB."""
    started = time.perf_counter()
    process = subprocess.Popen(
        ["sort", "-u", "-o", os.devnull, str(source)],
        env={**os.environ, "LC_ALL": "C"},
        preexec_fn=pin_one_core,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"sort -u failed: {process.returncode}")
    return seconds, usage.ru_maxrss / 1024


def run_child(target, *args):  # type: ignore[no-untyped-def]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def task_seconds(client: httpx.Client, path: Path, task_type: str) -> float:
    """Upload start to exported, for one task of the file at `path`."""
    started = time.perf_counter()
    with open(path, "rb") as handle:
        created = client.post(
            "/v1/tasks", files={"file": ("n.txt", handle)}, data={"task_type": task_type}
        )
    created.raise_for_status()
    task_id = created.json()["task_id"]
    while True:
        body = client.get(f"/v1/tasks/{task_id}").json()
        if body["status"] == "exported":
            return time.perf_counter() - started
        if body["status"] not in ("pending", "processing"):
            raise SystemExit(f"task ended {body['status']}: {body.get('message')}")
        time.sleep(0.05)


def task_phase(data_dir: Path, lines: int, tmp: Path) -> tuple[list[float], list[float]]:
    """A `validate` task and a registry task of the same file, twice each, alternately."""
    path = tmp / "task.txt"
    path.write_text("\n".join(corpus(lines)) + "\n")
    warm_validator_cache(data_dir / "cache")
    validate, registry = [], []
    with (
        serving(data_dir, {}) as (base, key),
        httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=600) as client,
    ):
        task_seconds(client, path, NAME)  # maps the snapshot and builds its directory once
        for _ in range(2):
            validate.append(task_seconds(client, path, "validate"))
            registry.append(task_seconds(client, path, NAME))
    path.unlink()
    return validate, registry


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=50_000_000)
    parser.add_argument("--lookups", type=int, default=1_000_000)
    parser.add_argument("--task-lines", type=int, default=1_000_000, help="0: no task phase")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source, data_dir = tmp / "registry.txt", tmp / "data"
        started = time.perf_counter()
        write_source(source, args.entries, args.seed)
        size = source.stat().st_size / 2**20
        print(
            f"source          : {args.entries:,} lines, {size:,.0f} MiB "
            f"(generated in {time.perf_counter() - started:.0f} s); one core for each load"
        )
        seconds, entries, duplicates, before, peak, earlier = run_child(
            load_phase, str(data_dir), str(source)
        )
        print(
            f"numcheck load   : {seconds:.1f} s for {entries:,} distinct entries "
            f"({duplicates:,} duplicates); peak RSS during the load {peak:,.0f} MiB "
            f"({before:,.0f} MiB resident as it started; the process peaked at "
            f"{earlier:,.0f} MiB before it, building the validator)"
        )
        sort_seconds, sort_peak = sort_u(source)
        print(f"sort -u         : {sort_seconds:.1f} s; peak RSS {sort_peak:,.0f} MiB")
        key = registry_key(Settings(data_dir=data_dir))
        py_load, py_peak, py_lookups, py_hits, py_entries = run_child(
            python_phase, str(source), key, args.lookups, args.seed
        )
        source.unlink()
        print(
            f"python set      : {py_load:.1f} s for {py_entries:,} entries; "
            f"peak RSS {py_peak:,.0f} MiB"
        )
        print(
            f"load ratios     : sort -u / numcheck {sort_seconds / seconds:.2f}x, "
            f"python set / numcheck {py_load / seconds:.2f}x"
        )
        timings, checked, hits, agree, mapped, table, digest = run_child(
            lookup_phase, str(data_dir), args.lookups, args.seed
        )
        assert hits == py_hits, (hits, py_hits)
        print(
            f"numcheck lookup : {args.lookups:,} lookups in {min(timings[1:]):.3f} s "
            f"(hashing included, one core, {digest}; {hits:,} found; first run, mapping the "
            f"snapshot and building its directory: {timings[0]:.3f} s)"
        )
        print(
            f"python set      : {args.lookups:,} lookups in {py_lookups:.3f} s "
            f"(hashlib BLAKE2b one by one; {py_hits:,} found)"
        )
        print(f"lookup ratio    : {py_lookups / min(timings[1:]):.2f}x")
        print(
            f"registry check  : {args.lookups:,} lines in {checked:.3f} s "
            f"(normalization included, in chunks of a task's size; {agree:,} answers agree)"
        )
        print(
            f"worker mapping  : {mapped:,.0f} MiB of the {table * 8 / 2**20:,.0f} MiB snapshot "
            "resident after the lookups"
        )
        if args.task_lines:
            validate, registry = task_phase(data_dir, args.task_lines, tmp)
            print(
                f"{NAME} task      : {args.task_lines:,} lines in {min(registry):.2f} s "
                f"(runs {', '.join(f'{s:.2f}' for s in registry)}; embedded default, "
                f"{os.cpu_count()} cores)"
            )
            print(
                f"validate task   : {args.task_lines:,} lines in {min(validate):.2f} s "
                f"(runs {', '.join(f'{s:.2f}' for s in validate)}; the same file)"
            )
            print(f"task ratio      : validate / {NAME} {min(validate) / min(registry):.2f}x")


if __name__ == "__main__":
    main()
