"""A 50,000,000-entry registry: load time and peak memory, a worker's resident memory once the
snapshot is mapped, and 1,000,000 lookups (hashing included) on one core — beside the same
lookups one by one in a Python set of the digests built at 5,000,000 entries.

    .venv/bin/python -m bench.registry [--entries 50000000] [--lookups 1000000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from numcheck.config import Settings
from numcheck.registries import loading, versions
from numcheck.registries.hashing import KeyedHasher
from numcheck.registries.keys import registry_key
from numcheck.registries.snapshot import Snapshot
from numcheck.storage import db
from numcheck.storage.stores import Stores

BATCH = 1_000_000


def pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def numbers_of(values: np.ndarray) -> list[str]:
    """German mobile numbers (+4915x, 9 more digits): 10^9 of them to draw from."""
    return [f"+4915{value:09d}" for value in values.tolist()]


def write_source(path: Path, entries: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w") as out:
        for start in range(0, entries, BATCH):
            values = rng.integers(0, 10**9, size=min(BATCH, entries - start))
            out.write("\n".join(numbers_of(values)) + "\n")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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


def load_phase(data_dir: str, source: str, queue) -> None:  # type: ignore[no-untyped-def]
    pin_one_core()
    stores = Stores.open(Settings(data_dir=Path(data_dir)))
    db.upgrade(stores.engine)
    before = peak_rss_mb()
    started = time.perf_counter()
    run = loading.start(stores, "bench", csv_input=None, default_region=None)
    with open(source, "rb") as handle:
        while block := handle.read(1 << 20):
            run.feed(block)
    report = loading.publish(stores, "bench", "replace", run, record=lambda _session, _report: None)
    queue.put((time.perf_counter() - started, report.entries, before, peak_rss_mb()))


def lookup_phase(data_dir: str, lookups: int, seed: int, queue) -> None:  # type: ignore[no-untyped-def]
    pin_one_core()
    stores = Stores.open(Settings(data_dir=Path(data_dir)))
    with stores.sessions.begin() as session:
        version = versions.current(session, "bench")
        key = versions.snapshot_key("bench", version.version)
    path = stores.blobs.local_path(key)
    snapshot = Snapshot.open(path)
    hasher = KeyedHasher(registry_key(stores.settings))
    # Half the queries are members (the source's first numbers), half are drawn afresh.
    members = np.random.default_rng(seed).integers(0, 10**9, size=lookups // 2)
    strangers = np.random.default_rng(seed + 1).integers(0, 10**9, size=lookups - lookups // 2)
    queries = numbers_of(np.concatenate([members, strangers]))
    np.random.default_rng(seed + 2).shuffle(queries)
    started = time.perf_counter()
    found = snapshot.contains(hasher.digests(queries))
    ours = time.perf_counter() - started
    mapped = mapping_rss_mb(path)

    # The reference: a Python set of the same digests, built at 5 M entries, probed one by one.
    table = np.memmap(stores.blobs.local_path(key), dtype="<u8", mode="r")
    reference = set(table[:5_000_000].tolist())
    import hashlib

    keyed = hashlib.blake2b(key=registry_key(stores.settings), digest_size=8)
    started = time.perf_counter()
    hits = 0
    for number in queries:
        h = keyed.copy()
        h.update(number.encode())
        hits += int.from_bytes(h.digest(), "little") in reference
    theirs = time.perf_counter() - started
    queue.put((ours, theirs, int(found.sum()), mapped, len(table)))


def run_child(target, *args):  # type: ignore[no-untyped-def]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=50_000_000)
    parser.add_argument("--lookups", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "registry.txt"
        started = time.perf_counter()
        write_source(source, args.entries, args.seed)
        print(
            f"source          : {args.entries:,} lines, {source.stat().st_size / 2**20:,.0f} MiB "
            f"(generated in {time.perf_counter() - started:.0f} s)"
        )
        seconds, entries, before, peak = run_child(load_phase, str(Path(tmp) / "data"), str(source))
        source.unlink()
        print(
            f"load            : {seconds:.1f} s, {entries:,} distinct entries, "
            f"peak RSS {peak:,.0f} MiB (process start {before:,.0f} MiB)"
        )
        ours, theirs, hits, mapped, size = run_child(
            lookup_phase, str(Path(tmp) / "data"), args.lookups, args.seed
        )
        print(
            f"worker mapping  : {mapped:,.0f} MiB of the {size * 8 / 2**20:,.0f} MiB snapshot "
            "resident after the lookups"
        )
        print(
            f"numcheck        : {args.lookups:,} lookups in {ours:.3f} s "
            f"(hashing included, one core; {hits:,} found)"
        )
        print(
            f"python set      : {args.lookups:,} lookups in {theirs:.3f} s "
            "(5,000,000-entry set of the same digests)"
        )
        print(f"ratio           : {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
