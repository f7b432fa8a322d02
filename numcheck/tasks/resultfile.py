"""A chunk's result rows, and the zip they are assembled into.

Each chunk renders its rows in the task's result format (CSV, JSON Lines, or the rows of an
XLSX sheet) and compresses them in the worker that checked it (a deflate segment with the CRC-32
and length of its plain bytes); the finalize lays the segments end to end in the zip's entries,
in input order, without compressing anything again. So the zip's cost is spread over the workers
instead of falling on one process at the end. An XLSX workbook is itself a zip: its sheet entry
is assembled the same way (xlsxoutput.py), then the workbook goes into the result zip.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, BinaryIO

from numcheck.checks import BatchResult, Failure, Outcome
from numcheck.states import ResultFormat
from numcheck.storage import blobs as blob_keys
from numcheck.storage.blobs import BlobStore
from numcheck.tasks import tallies, xlsxoutput
from numcheck.tasks.zipwriter import DEFLATED, STORED, Segment, ZipWriter

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
        if (
            line.count(",") != len(row) - 1
            or '"' in line
            or "\r" in line
            or "\n" in line
            or not line  # one empty field is written '""' (a row of none: an empty line)
        ):
            line = _csv_line(row)[:-2]  # a field holds a delimiter, a quote or a line end
        lines.append(line)
    return "\r\n".join(lines) + "\r\n" if lines else ""


def csv_columns(columns: Sequence[Sequence[str]]) -> str:
    """Rows given as their columns (of one length), exactly as `csv.writer` writes the rows,
    faster still: a column is checked for the characters that need quotes in one pass over all
    its values joined, and only a column that has some (places, carriers) is quoted, each
    distinct value once."""
    if not columns or not columns[0]:
        return ""
    if len(columns) == 1:  # a row of one empty field is written '""'
        return csv_text(zip(*columns, strict=True))
    fields = [_csv_fields(column) for column in columns]
    return "\r\n".join([",".join(row) for row in zip(*fields, strict=True)]) + "\r\n"


def _csv_fields(column: Sequence[str]) -> Sequence[str]:
    if not _needs_quotes("".join(column)):
        return column
    written = {value: _quoted(value) if _needs_quotes(value) else value for value in set(column)}
    return list(map(written.__getitem__, column))


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _needs_quotes(text: str) -> bool:
    return "," in text or '"' in text or "\r" in text or "\n" in text


def _csv_line(values: Iterable[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


@dataclass(frozen=True)
class Layout:
    """What a task's result files hold and how they are written."""

    columns: tuple[str, ...]  # the check's columns, after Number
    id_column: str | None = None  # a CSV column passed through, last but one
    result_format: ResultFormat = ResultFormat.CSV
    include_failed: bool = False  # failures as rows of the results file, with a reason

    @property
    def results_header(self) -> tuple[str, ...]:
        failure = ("failure",) if self.include_failed else ()
        return ("Number", *self.columns, *self._extra, *failure)

    @property
    def failed_header(self) -> tuple[str, ...]:
        return ("line", "input", "reason", *self._extra)

    @property
    def _extra(self) -> tuple[str, ...]:
        return (neutralise(self.id_column),) if self.id_column else ()

    def file_name(self, kind: str) -> str:
        return f"{kind}.{self.result_format.value}"


CONTENT_TYPES = {
    ResultFormat.CSV: "text/csv; charset=utf-8",
    ResultFormat.JSONL: "application/x-ndjson; charset=utf-8",
    ResultFormat.XLSX: xlsxoutput.CONTENT_TYPE,
}


def write_parts(
    blobs: BlobStore,
    task_id: str,
    chunk: int,
    lines: Sequence[str],
    line_numbers: Sequence[int],
    answers: BatchResult,
    ids: Sequence[str] | None,
    layout: Layout,
) -> tuple[int, int, tallies.Tallies]:
    """Write a chunk's result rows and failures to their deterministic keys; return the counts
    of answered and failed lines, and the tallies of their values (tallies.py). `line_numbers`
    are the lines' numbers in the upload (a `range` when the chunk has no blank line)."""
    failed = answers.failures
    extra = [neutralise(i) for i in ids] if ids is not None else None
    fmt = layout.result_format
    failures: list[Sequence[str]] = []
    if layout.include_failed:
        rows = _rows_with_failures(lines, answers.outcomes, extra, len(layout.columns))
        results = _render(rows, layout.results_header, fmt)
    else:
        columns = answers.columns
        if extra is not None and columns:  # the ids of the lines that are rows, last
            failed_lines = {n for n, _ in failed}
            kept = [e for n, e in enumerate(extra) if n not in failed_lines] if failed else extra
            columns = [*columns, kept]
        results = _render_columns(columns, layout.results_header, fmt)
        for n, reason in failed:
            passthrough = (extra[n],) if extra is not None else ()
            echoed = neutralise(lines[n].strip())
            failures.append((str(line_numbers[n]), echoed, reason, *passthrough))
    _write_part(blobs, blob_keys.part_key(task_id, chunk, "results"), results)
    _write_part(
        blobs,
        blob_keys.part_key(task_id, chunk, "failed"),
        _render(failures, layout.failed_header, fmt, numbered=True),
    )
    counted = tallies.count(layout.columns, answers.columns, [reason for _, reason in failed])
    return answers.answered, len(failed), counted


def _rows_with_failures(
    lines: Sequence[str],
    outcomes: Sequence[Outcome],
    extra: Sequence[str] | None,
    width: int,
) -> list[Sequence[str]]:
    """Result rows with the failures among them (include_failed): a failure's row echoes its
    input, blank columns and its reason; an answer's row ends with an empty reason."""
    rows: list[Sequence[str]] = []
    blank = ("",) * width
    for n, outcome in enumerate(outcomes):
        passthrough = (extra[n],) if extra is not None else ()
        if isinstance(outcome, Failure):
            echoed = neutralise(lines[n].strip())
            rows.append((echoed, *blank, *passthrough, outcome.reason))
        else:
            rows.append((*outcome, *passthrough, ""))
    return rows


def _render(
    rows: Sequence[Sequence[str]],
    header: Sequence[str],
    fmt: ResultFormat,
    *,
    numbered: bool = False,
) -> bytes:
    if fmt is ResultFormat.CSV:
        return csv_text(rows).encode("utf-8")
    if fmt is ResultFormat.JSONL:
        return jsonl_text(rows, header, numbered=numbered).encode("utf-8")
    return xlsxoutput.sheet_rows(rows).encode("utf-8")


def _render_columns(columns: list[list[str]], header: Sequence[str], fmt: ResultFormat) -> bytes:
    """`_render` of rows given as their columns (none: no row)."""
    if not columns:
        return b""
    if fmt is ResultFormat.CSV:
        return csv_columns(columns).encode("utf-8")
    if fmt is ResultFormat.JSONL:
        return jsonl_text(zip(*columns, strict=True), header).encode("utf-8")
    return xlsxoutput.sheet_columns(columns).encode("utf-8")


def jsonl_text(
    rows: Iterable[Sequence[str]], header: Sequence[str], *, numbered: bool = False
) -> str:
    """One JSON object a row, keyed by the header; `numbered`: the first value is a failed
    line's number, written as a JSON number.

    The keys are encoded once into a template and each value by the json module's own string
    encoder (C): the same text as `json.dumps(dict(zip(header, row)), ensure_ascii=False)`
    with compact separators, at several times its speed."""
    keys = [encode_basestring(name).replace("%", "%%") for name in header]
    template = "{" + ",".join(key + ":%s" for key in keys) + "}\n"
    encode = encode_basestring
    if numbered:  # the line number stays a number; it is digits we wrote
        return "".join([template % (row[0], *map(encode, row[1:])) for row in rows])
    return "".join([template % tuple(map(encode, row)) for row in rows])


def _write_part(blobs: BlobStore, key: str, data: bytes) -> None:
    segment = Segment.of(data)
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
    layout: Layout,
    summary: dict[str, Any],
) -> None:
    """Lay the parts of every chunk, in input order, into the results file and, unless the
    failures are among the results, the failed file; then summary.json."""
    archive = ZipWriter(out)
    entries = [("results", layout.results_header)]
    if summary["failure"] and not layout.include_failed:
        entries.append(("failed", layout.failed_header))
    for kind, header in entries:
        parts = (
            _read_part(blobs, blob_keys.part_key(task_id, n, kind)) for n in range(chunk_count)
        )
        xlsx = layout.result_format is ResultFormat.XLSX
        # A workbook is a zip of deflated entries already: stored as it is, not deflated again.
        archive.begin(layout.file_name(kind), stored=xlsx)
        if xlsx:
            _write_workbook(archive, header, parts)
        else:
            if layout.result_format is ResultFormat.CSV:
                archive.write(_csv_line(header).encode("utf-8"))
            for segment in parts:
                archive.append(segment)
        archive.end()
    archive.begin("summary.json")
    archive.write((json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    archive.end()
    archive.close()


def _write_workbook(archive: ZipWriter, header: Sequence[str], parts: Iterator[Segment]) -> None:
    """A workbook assembled from the parts in a temporary file, then copied into the entry."""
    with tempfile.TemporaryFile() as workbook:
        xlsxoutput.write_workbook(workbook, header, parts)
        workbook.seek(0)
        while piece := workbook.read(1 << 20):
            archive.write(piece)


_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_LOCAL_MAGIC = 0x04034B50
_READ_STEP = 1 << 20


def first_entry(zipped: BinaryIO) -> tuple[str, Iterator[bytes]]:
    """The name and the plain bytes of a result zip's first entry (the results file), read
    front to back: no seeking, so it streams from S3 as from a file."""
    fixed = zipped.read(_LOCAL_HEADER.size)
    magic, _, _, method, *_, name_length, extra_length = _LOCAL_HEADER.unpack(fixed)
    if magic != _LOCAL_MAGIC or method not in (DEFLATED, STORED):
        raise ValueError("not a result zip")
    name = zipped.read(name_length).decode("ascii")
    extra = zipped.read(extra_length)
    if method == STORED:  # a workbook: its size is in the ZIP64 field (zipwriter.py)
        _, _, size, _ = struct.unpack("<HHQQ", extra[:20])
        return name, _stored(zipped, size)

    def inflated() -> Iterator[bytes]:
        inflate = zlib.decompressobj(-15)
        while not inflate.eof and (piece := zipped.read(_READ_STEP)):
            if data := inflate.decompress(piece):
                yield data
        zipped.close()

    return name, inflated()


def _stored(zipped: BinaryIO, size: int) -> Iterator[bytes]:
    while size and (piece := zipped.read(min(size, _READ_STEP))):
        size -= len(piece)
        yield piece
    zipped.close()


def preview(zipped: BinaryIO, result_format: ResultFormat, rows: int) -> list[list[str]]:
    """The header and the first `rows` rows of a result zip's results file, reading no more of
    it than that takes."""
    _, content = first_entry(zipped)
    if result_format is ResultFormat.XLSX:
        return xlsxoutput.first_rows(content, rows + 1)
    text = ""
    for piece in content:
        text += piece.decode("utf-8", "ignore")
        if text.count("\n") > rows + 1:
            break
    lines = text.split("\n")[: rows + 1]
    if result_format is ResultFormat.JSONL:  # no header line: the keys are the header
        records = [json.loads(line) for line in lines[:rows] if line.strip()]
        header = list(records[0]) if records else []
        return [header] + [[str(record[key]) for key in header] for record in records]
    return list(csv.reader(io.StringIO("\n".join(lines))))[: rows + 1]
