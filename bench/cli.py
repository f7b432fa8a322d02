"""The `numcheck` command's own cost, against a server on the embedded default:

- startup: `numcheck status TASK_ID` as a process, beside the same status call made by a
  process that only imports httpx and posts it (the floor of any Python client command);
- `--wait` on a small task: `numcheck submit FILE --wait` (12 lines) as a process, beside a
  process that submits with httpx and polls the status every 10 ms (the shortest a waiting
  client could take).

    .venv/bin/python -m bench.cli [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.e2e import cache_dir_of, serving, warm_validator_cache

STATUS_BY_HTTPX = """
import sys, httpx
r = httpx.post(sys.argv[1] + "/v1/gettasks", data={"task_id": sys.argv[3]},
               headers={"X-API-Key": sys.argv[2]})
print(r.json()["status"])
"""

WAIT_BY_HTTPX = """
import sys, time, httpx
with httpx.Client(base_url=sys.argv[1], headers={"X-API-Key": sys.argv[2]}) as c:
    with open(sys.argv[3], "rb") as f:
        task = c.post("/v1/tasks", data={"task_type": "validate"}, files={"file": f}).json()
    while c.post("/v1/gettasks", data={"task_id": task["task_id"]}).json()["status"] != "exported":
        time.sleep(0.01)
"""


def timed(command: list[str], env: dict[str, str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        samples.append(time.perf_counter() - started)
    return samples


def line(name: str, ours: list[float], reference: list[float], what: str) -> str:
    a, b = statistics.median(ours), statistics.median(reference)
    return (
        f"{name:<22}: numcheck median {a:.3f} s (min {min(ours):.3f})   {what} median {b:.3f} s "
        f"(min {min(reference):.3f})   ratio {a / b:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        warm_validator_cache(cache_dir_of(data_dir, {}))
        small = Path(tmp) / "small.txt"
        small.write_text("".join(f"+1202555{i:04d}\n" for i in range(12)))
        with serving(data_dir, {}) as (base, key):
            env = {**os.environ, "NUMCHECK_SERVER": base, "NUMCHECK_API_KEY": key}
            numcheck = [sys.executable, "-m", "numcheck"]
            created = subprocess.run(
                [*numcheck, "submit", str(small), "-t", "validate", "--wait", "--json"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            task_id = created.stdout.split('"task_id": "')[1].split('"')[0]
            status = timed([*numcheck, "status", task_id], env, args.runs)
            status_ref = timed(
                [sys.executable, "-c", STATUS_BY_HTTPX, base, key, task_id], env, args.runs
            )
            wait = timed(
                [*numcheck, "submit", str(small), "-t", "validate", "--wait"], env, args.runs
            )
            wait_ref = timed(
                [sys.executable, "-c", WAIT_BY_HTTPX, base, key, str(small)], env, args.runs
            )
    print(line("numcheck status", status, status_ref, "httpx-only process"))
    print(line("submit --wait, 12 lines", wait, wait_ref, "httpx + 10 ms polling"))
    print("target                : numcheck status under 0.3 s")


if __name__ == "__main__":
    main()
