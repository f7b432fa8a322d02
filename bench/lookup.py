"""Real-time lookups: one number per `POST /v1/lookup`, sent one after another over a kept-alive
connection to a server on the embedded default — the latency a sign-up form sees — beside
phonenumbers answering the same numbers in-process, one call each, in the same run.

The client is the standard library's http.client: the time measured is the server's (and the
loopback's), not an HTTP client library's own overhead (httpx adds ~1 ms a request here).

    .venv/bin/python -m bench.lookup [--requests 2000] [--registry-entries 1000000]

Two kinds of request are timed: `validate` alone, and `validate,htx` against a registry of
`--registry-entries` numbers (its snapshot memory-mapped by the API process). The per-key rate
limit is raised for the run (the limiter still runs on every request): the default 20/s would
refuse a sequential client long before the sample is done.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.corpus import numbers, phonenumbers_answer
from bench.e2e import cache_dir_of, serving, warm_validator_cache

WARM_UP = 200


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(name: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return (
        f"{name:<26}: median {statistics.median(ms):6.3f} ms   p99 {percentile(ms, 0.99):6.3f} ms"
        f"   ({len(ms):,} numbers)"
    )


def time_lookups(base: str, key: str, lines: list[str], task_type: str) -> list[float]:
    """Seconds per request, each asking for one number; the first WARM_UP are not kept."""
    connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=60)
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    samples = []
    for index, line in enumerate(lines):
        body = json.dumps({"numbers": [line], "task_type": task_type})
        started = time.perf_counter()
        connection.request("POST", "/v1/lookup", body, headers)
        answer = connection.getresponse()
        payload = answer.read()
        elapsed = time.perf_counter() - started
        if answer.status != 200:
            raise SystemExit(f"lookup refused: {answer.status} {payload.decode()}")
        if index >= WARM_UP:
            samples.append(elapsed)
    return samples


def time_reference(lines: list[str]) -> list[float]:
    import phonenumbers

    phonenumbers.enable_pattern_cache()
    samples = []
    for index, line in enumerate(lines):
        started = time.perf_counter()
        phonenumbers_answer(line)
        elapsed = time.perf_counter() - started
        if index >= WARM_UP:
            samples.append(elapsed)
    return samples


def load_registry(data_dir: Path, env: dict[str, str], entries: int, sample: list[str]) -> None:
    """An `htx` registry: `entries` numbers, a tenth of the sample among them."""
    source = data_dir.parent / "registry.txt"
    members = sample[::10] + [f"+4915{i:09d}" for i in range(max(0, entries - len(sample) // 10))]
    source.write_text("\n".join(members) + "\n")
    subprocess.run(
        [sys.executable, "-m", "numcheck", "registry", "load", "htx", str(source)],
        env={**env, "NUMCHECK_DATA_DIR": str(data_dir)},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--registry-entries", type=int, default=1_000_000)
    args = parser.parse_args()

    lines = numbers(WARM_UP + args.requests, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        env = {"NUMCHECK_RATE_LIMIT_PER_SECOND": "100000", "NUMCHECK_RATE_LIMIT_BURST": "100000"}
        warm_validator_cache(cache_dir_of(data_dir, env))
        with serving(data_dir, env) as (base, key):
            load_registry(data_dir, {**os.environ, **env}, args.registry_entries, lines)
            validate = time_lookups(base, key, lines, "validate")
            both = time_lookups(base, key, lines, "validate,htx")
    reference = time_reference(lines)
    print(summary("numcheck validate", validate))
    print(summary("numcheck validate,htx", both))
    print(summary("phonenumbers in-process", reference))
    print(
        "ratio (median)            : "
        f"{statistics.median(validate) / statistics.median(reference):.1f}x phonenumbers' time "
        "(the lookup includes HTTP, the key check, the rate limiter and the credit ledger)"
    )
    print("targets                   : median <= 5 ms, p99 <= 20 ms")


if __name__ == "__main__":
    main()
