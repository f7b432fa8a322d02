"""Schemathesis at length: every operation of /openapi.json, with every check (server errors,
status codes, content types, headers, response bodies against their schemas), against a server
on the embedded default, with an administrator's key and with a user's. The suite runs the same
with 15 examples an operation (tests/integration/test_schema_fuzz.py); this runs many more.

    .venv/bin/python -m bench.schema_fuzz [--examples 200]

Prints the operations tried and the failures found (0 is the target), per key.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings

from bench.e2e import serving
from tests.integration.test_schema_fuzz import CONFIG


def fuzz(base: str, key: str, examples: int) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=CONFIG)
    tried, failures = 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "DELETE" and operation.path.startswith("/v1/admin/keys/"):
            continue  # could revoke the key the fuzzer itself uses

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"X-API-Key": key})

        tried += 1
        try:
            conforms()
        except Exception as exc:  # a FailureGroup: what failed, and how to reproduce it
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return tried, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=200, help="examples per operation")
    args = parser.parse_args()
    limits = {
        "NUMCHECK_RATE_LIMIT_BURST": "1000000",
        "NUMCHECK_RATE_LIMIT_PER_SECOND": "1000000",
        "NUMCHECK_MAX_ACTIVE_TASKS": "1000000",
    }
    with tempfile.TemporaryDirectory() as tmp, serving(Path(tmp) / "data", limits) as (base, admin):
        made = subprocess.run(  # the operator's command makes the user's key
            [sys.executable, "-m", "numcheck", "keys", "create", "--user", "fuzzed"],
            env={**os.environ, "NUMCHECK_DATA_DIR": str(Path(tmp) / "data")},
            capture_output=True,
            text=True,
            check=True,
        )
        user = made.stdout.strip().splitlines()[-1]
        for role, key in (("admin", admin), ("user", user)):
            started = time.perf_counter()
            tried, failures = fuzz(base, key, args.examples)
            print(
                f"{role:5} key: {tried} operations x up to {args.examples} examples in "
                f"{time.perf_counter() - started:.0f} s: {len(failures)} failures"
            )
            for failure in failures:
                print("  " + failure.replace("\n", "\n    "))


if __name__ == "__main__":
    main()
