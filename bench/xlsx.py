"""XLSX uploads: the time and peak memory of reading a 1,000,000-row sheet into a task's upload,
beside openpyxl reading the same workbook in the same run: its ordinary load, and its read-only
mode (what numcheck used before it streamed sheets through expat).

    .venv/bin/python -m bench.xlsx [--rows 1000000]

The workbook is written with openpyxl's write-only mode, as exports are: a customer id and the
number as text (shared strings, as Excel stores them), every tenth number stored as a number.
Each side runs in a child process of its own, so its peak RSS is its own (`ru_maxrss`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.corpus import numbers

_NUMCHECK_SIDE = """
import json, resource, sys, time
from pathlib import Path
from numcheck.storage.blobs import LocalBlobStore
from numcheck.tasks.intake import Limits
from numcheck.tasks.receiving import UploadReceiver

path, work = Path(sys.argv[1]), Path(sys.argv[2])
started = time.perf_counter()
receiver = UploadReceiver(
    LocalBlobStore(work / "blobs"), Limits(1 << 34, 10**8, 1024, 50_000), work / "spool", {},
    path.name,
)
with open(path, "rb") as handle:
    while piece := handle.read(1 << 20):
        receiver.feed(piece)
upload = receiver.finish({"column": "phone", "id_column": "customer"})
receiver.close()
print(json.dumps({"seconds": time.perf_counter() - started, "total": upload.finish().total,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

_REFERENCE_SIDE = """
import json, resource, sys, time
import openpyxl
started = time.perf_counter()
book = openpyxl.load_workbook(sys.argv[1], data_only=True, read_only=sys.argv[2] == "read-only")
total = sum(1 for row in book.worksheets[0].iter_rows(values_only=True) if row[1]) - 1
print(json.dumps({"seconds": time.perf_counter() - started, "total": total,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def write_workbook(path: Path, rows: int) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Leads")
    sheet.append(["customer", "phone"])
    for n, number in enumerate(numbers(rows)):
        value: object = int(number[1:]) if n % 10 == 0 and number[1:].isdigit() else number
        sheet.append([f"c{n}", value])
    book.save(path)


def measure(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "leads.xlsx"
        started = time.perf_counter()
        write_workbook(path, args.rows)
        written = time.perf_counter() - started
        ours = measure(_NUMCHECK_SIDE, str(path), tmp)
        reference = measure(_REFERENCE_SIDE, str(path), "ordinary")
        read_only = measure(_REFERENCE_SIDE, str(path), "read-only")
        size = path.stat().st_size
    assert ours["total"] == args.rows, ours
    print(
        f"workbook        : {args.rows:,} rows, {size / 2**20:.1f} MiB (written in {written:.1f} s)"
    )
    print(
        f"numcheck intake : {ours['seconds']:.1f} s, peak RSS {ours['peak_kib'] / 1024:.0f} MiB "
        "(the sheet streamed through expat into the upload)"
    )
    print(
        f"openpyxl load   : {reference['seconds']:.1f} s, peak RSS "
        f"{reference['peak_kib'] / 1024:.0f} MiB (the ordinary load_workbook, reference)"
    )
    print(
        f"openpyxl r/o    : {read_only['seconds']:.1f} s, peak RSS "
        f"{read_only['peak_kib'] / 1024:.0f} MiB (read-only mode, reference)"
    )
    print(
        f"ratio           : {reference['seconds'] / ours['seconds']:.2f}x the ordinary load's "
        f"speed with {reference['peak_kib'] / ours['peak_kib']:.2f}x less memory; "
        f"{read_only['seconds'] / ours['seconds']:.2f}x the read-only mode's speed"
    )


if __name__ == "__main__":
    main()
