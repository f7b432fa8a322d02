"""XLSX workbooks in: one sheet's rows as delimited text, so they are read like any CSV file.

An upload is a workbook when its bytes are a zip holding `xl/workbook.xml` (the name does not
matter). openpyxl reads it in read-only mode, one row at a time, with each formula's cached
value (what Excel last computed and showed); defusedxml guards the XML parsing. Each row becomes
one line of comma-separated text, so row numbers are line numbers and the header rule, the
column choice and the id column work as for a CSV file. Cells that Excel stored as numbers come
back as their exact digits (`442079460958`, never `4.42079E+11`).

An XLSX is a zip: before anything is read, the sizes its entries declare are added up and held
to a limit (zipfile never inflates an entry past its declared size), as gzip uploads are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from numcheck import errors

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the binary .xls format (and other old Office files)
_ROWS_PER_BLOCK = 10_000


def is_zip(head: bytes) -> bool:
    return head.startswith(ZIP_MAGIC)


def refuse_old_excel(head: bytes) -> None:
    if head.startswith(OLE_MAGIC):
        raise errors.BinaryFile(
            "This is an old binary Excel (.xls) or Office file: save it as XLSX or CSV."
        )


def check_unpacked_size(spool: IO[bytes], limit: int) -> None:
    """Refuse a zip that is not a workbook, or whose entries would inflate past `limit`."""
    try:
        with zipfile.ZipFile(spool) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise errors.UndecodableFile("The XLSX file (a zip archive) is corrupt.") from None
    if not any(entry.filename == "xl/workbook.xml" for entry in entries):
        raise errors.BinaryFile("This zip archive is not an XLSX workbook.")
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > limit:
        raise errors.FileTooLarge(
            f"The XLSX file unpacks to {unpacked} bytes, over the limit of {limit}."
        )


def cell_text(value: object) -> str:
    """A cell as the text a person sees in it, numbers as their exact digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    text = str(value)
    # One row is one line: a cell's own line breaks would start new rows.
    return " ".join(text.splitlines()) if "\n" in text or "\r" in text else text


def _load(spool: IO[bytes]) -> Any:
    import openpyxl  # a few hundred milliseconds of imports: only when a workbook arrives

    spool.seek(0)
    try:
        return openpyxl.load_workbook(spool, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as exc:
        raise errors.UndecodableFile(f"The XLSX file cannot be read: {exc}"[:300]) from None


def rows_as_csv(spool: IO[bytes], sheet: str | None) -> Iterator[bytes]:
    """The chosen sheet (the first, or the one named) as blocks of comma-separated lines."""
    workbook = _load(spool)
    try:
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            names = ", ".join(repr(name[:40]) for name in workbook.sheetnames[:30])
            raise errors.InvalidRequest(f"There is no sheet {sheet[:100]!r}; the file has {names}.")
        yield from _blocks(worksheet.iter_rows(values_only=True))
    finally:
        workbook.close()


def _blocks(rows: Iterable[tuple[object, ...]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    text: Callable[[object], str] = cell_text
    count = 0
    try:
        for row in rows:
            values = [text(value) for value in row]
            while values and not values[-1]:
                values.pop()  # trailing empty cells: a blank row stays a blank line
            writer.writerow(values)
            count += 1
            if count == _ROWS_PER_BLOCK:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
                count = 0
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise errors.UndecodableFile(f"The XLSX file cannot be read: {exc}"[:300]) from None
    if count:
        yield buffer.getvalue().encode("utf-8")
