"""The CSV parts of one chunk and the zip they are streamed into."""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

from numcheck.checks import Failure, Outcome
from numcheck.storage import blobs as blob_keys
from numcheck.storage.blobs import BlobStore

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ECHO_CHARS = 256  # echoed input is cut here; lines are short, this bounds failed.csv


def neutralise(text: str) -> str:
    """Make echoed input inert in spreadsheets (OWASP CSV injection: prefix a quote)."""
    text = text[:_ECHO_CHARS]
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def write_parts(
    blobs: BlobStore,
    task_id: str,
    chunk: int,
    numbered_lines: Sequence[tuple[int, str]],
    outcomes: Sequence[Outcome],
    ids: Sequence[str] | None = None,
) -> tuple[int, int]:
    """Write a chunk's result rows and failures to their deterministic keys; return counts."""
    success = failure = 0
    with (
        blobs.writer(blob_keys.part_key(task_id, chunk, "results")) as results_out,
        blobs.writer(blob_keys.part_key(task_id, chunk, "failed")) as failed_out,
    ):
        results_text = io.TextIOWrapper(results_out, encoding="utf-8", newline="")
        failed_text = io.TextIOWrapper(failed_out, encoding="utf-8", newline="")
        results = csv.writer(results_text)
        failed = csv.writer(failed_text)
        extra = [(neutralise(i),) for i in ids] if ids is not None else [()] * len(outcomes)
        for (line_no, line), outcome, passthrough in zip(
            numbered_lines, outcomes, extra, strict=True
        ):
            if isinstance(outcome, Failure):
                failed.writerow((line_no, neutralise(line.strip()), outcome.reason, *passthrough))
                failure += 1
            else:
                results.writerow((*outcome, *passthrough))
                success += 1
        results_text.flush()
        failed_text.flush()
        results_text.detach()
        failed_text.detach()
    return success, failure


def _csv_line(values: Iterable[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue().encode()


def write_zip(
    blobs: BlobStore,
    out: BinaryIO,
    task_id: str,
    chunk_count: int,
    columns: Sequence[str],
    summary: dict[str, Any],
    id_column: str | None = None,
) -> None:
    """Stream the parts of every chunk, in input order, into results.csv and failed.csv."""
    extra = (neutralise(id_column),) if id_column else ()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("results.csv", "w", force_zip64=True) as entry:
            entry.write(_csv_line(("Number", *columns, *extra)))
            for chunk in range(chunk_count):
                with blobs.open(blob_keys.part_key(task_id, chunk, "results")) as part:
                    shutil.copyfileobj(part, entry, 1 << 20)
        if summary["failure"]:
            with archive.open("failed.csv", "w", force_zip64=True) as entry:
                entry.write(_csv_line(("line", "input", "reason", *extra)))
                for chunk in range(chunk_count):
                    with blobs.open(blob_keys.part_key(task_id, chunk, "failed")) as part:
                        shutil.copyfileobj(part, entry, 1 << 20)
        archive.writestr("summary.json", json.dumps(summary, indent=2) + "\n")
