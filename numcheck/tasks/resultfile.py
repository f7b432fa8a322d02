"""A chunk's result rows, and the zip they are assembled into.

Each chunk renders its rows as CSV and compresses them in the worker that checked it (a
deflate segment with the CRC-32 and length of its plain bytes); the finalize lays the segments
end to end in the zip's entries, in input order, without compressing anything again. So the
zip's cost is spread over the workers instead of falling on one process at the end.
"""

from __future__ import annotations

import csv
import io
import json
import struct
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

from numcheck.checks import Failure, Outcome
from numcheck.storage import blobs as blob_keys
from numcheck.storage.blobs import BlobStore
from numcheck.tasks.zipwriter import Segment, ZipWriter

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ECHO_CHARS = 256  # echoed input is cut here; lines are short, this bounds failed.csv
_PART_MAGIC = b"NCZ1"
_PART_HEADER = struct.Struct("<4sIQ")  # magic, CRC-32 and length of the plain bytes


def neutralise(text: str) -> str:
    """Make echoed input inert in spreadsheets (OWASP CSV injection: prefix a quote)."""
    text = text[:_ECHO_CHARS]
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """Rows exactly as `csv.writer` writes them (minimal quoting, CRLF), faster: a plain join
    for the rows where no field needs quotes (nearly all), the writer for the others."""
    lines = []
    for row in rows:
        line = ",".join(row)
        if line.count(",") != len(row) - 1 or '"' in line or "\r" in line or "\n" in line:
            line = _csv_line(row)[:-2]  # a field holds a delimiter, a quote or a line end
        lines.append(line)
    return "\r\n".join(lines) + "\r\n" if lines else ""


def _csv_line(values: Iterable[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def write_parts(
    blobs: BlobStore,
    task_id: str,
    chunk: int,
    numbered_lines: Sequence[tuple[int, str]],
    outcomes: Sequence[Outcome],
    ids: Sequence[str] | None = None,
) -> tuple[int, int]:
    """Write a chunk's result rows and failures to their deterministic keys; return counts."""
    extra = [(neutralise(i),) for i in ids] if ids is not None else None
    rows: list[Sequence[str]] = []
    failures: list[Sequence[str]] = []
    for n, ((line_no, line), outcome) in enumerate(zip(numbered_lines, outcomes, strict=True)):
        passthrough = extra[n] if extra is not None else ()
        if isinstance(outcome, Failure):
            failures.append((str(line_no), neutralise(line.strip()), outcome.reason, *passthrough))
        else:
            rows.append((*outcome, *passthrough) if passthrough else outcome)
    _write_part(blobs, blob_keys.part_key(task_id, chunk, "results"), csv_text(rows))
    _write_part(blobs, blob_keys.part_key(task_id, chunk, "failed"), csv_text(failures))
    return len(rows), len(failures)


def _write_part(blobs: BlobStore, key: str, text: str) -> None:
    segment = Segment.of(text.encode("utf-8"))
    with blobs.writer(key) as out:
        out.write(_PART_HEADER.pack(_PART_MAGIC, segment.crc, segment.size))
        out.write(segment.deflated)


def _read_part(blobs: BlobStore, key: str) -> Segment:
    with blobs.open(key) as part:
        magic, crc, size = _PART_HEADER.unpack(part.read(_PART_HEADER.size))
        if magic != _PART_MAGIC:
            raise ValueError(f"{key} is not a result part")
        return Segment(part.read(), crc, size)


def write_zip(
    blobs: BlobStore,
    out: BinaryIO,
    task_id: str,
    chunk_count: int,
    columns: Sequence[str],
    summary: dict[str, Any],
    id_column: str | None = None,
) -> None:
    """Lay the parts of every chunk, in input order, into results.csv and failed.csv."""
    extra = (neutralise(id_column),) if id_column else ()
    archive = ZipWriter(out)
    entries = [("results.csv", ("Number", *columns, *extra), "results")]
    if summary["failure"]:
        entries.append(("failed.csv", ("line", "input", "reason", *extra), "failed"))
    for name, header, kind in entries:
        archive.begin(name)
        archive.write(_csv_line(header).encode("utf-8"))
        for chunk in range(chunk_count):
            archive.append(_read_part(blobs, blob_keys.part_key(task_id, chunk, kind)))
        archive.end()
    archive.begin("summary.json")
    archive.write((json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    archive.end()
    archive.close()
