"""XLSX workbooks in: one sheet's rows as delimited text, so they are read like any CSV file.

An upload is a workbook when its bytes are a zip holding `xl/workbook.xml` (the name does not
matter). The sheet is streamed through expat (C) a piece at a time, with each formula's cached
value (what Excel last computed and showed); each cell's value is what openpyxl's read-only,
data-only mode gives (shared and inline strings, numbers, booleans, errors, dates through
openpyxl's own date formats and epochs; tests/unit/test_xlsxinput.py holds the two readings
equal). openpyxl's own reader runs every cell through Python objects: about two minutes for a
1,000,000-row sheet here, against seconds for this one (bench/xlsx.py). The workbook, its links
and styles are small and parsed with defusedxml; expat is given no DTD or entity declaration.

Each row becomes one line of comma-separated text, so row numbers are line numbers and the
header rule, the column choice and the id column work as for a CSV file. Cells that Excel
stored as numbers come back as their exact digits (`442079460958`, never `4.42079E+11`).

An XLSX is a zip: before anything is read, the sizes its entries declare are added up and held
to a limit (zipfile never inflates an entry past its declared size), as gzip uploads are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, Protocol
from xml.parsers import expat
from xml.parsers.expat import ExpatError

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


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_READ_STEP = 1 << 16


def rows_as_csv(spool: IO[bytes], sheet: str | None) -> Iterator[bytes]:
    """The chosen sheet (the first, or the one named) as blocks of comma-separated lines."""
    try:
        with zipfile.ZipFile(spool) as archive:
            path = _sheet_path(archive, sheet)
            strings = _shared_strings(archive)
            dates = _date_styles(archive)
            with archive.open(path) as xml:
                yield from _blocks(_run(xml, _SheetRows(strings, *dates)))
    # SyntaxError: ElementTree's ParseError; IndexError: a shared string that is not there.
    except (
        zipfile.BadZipFile,
        KeyError,
        IndexError,
        ValueError,
        OSError,
        ExpatError,
        SyntaxError,
    ) as exc:
        # The exception's own text may quote the file's content: name its kind only.
        raise errors.UndecodableFile(
            f"The XLSX file cannot be read ({type(exc).__name__})."
        ) from None


def _parse(archive: zipfile.ZipFile, name: str) -> Any:
    from defusedxml import ElementTree  # refuses DTDs and entity tricks

    return ElementTree.fromstring(archive.read(name))


def _sheet_path(archive: zipfile.ZipFile, sheet: str | None) -> str:
    """The zip path of the named sheet, or of the first, from the workbook and its links."""
    workbook = _parse(archive, "xl/workbook.xml")
    links = _parse(archive, "xl/_rels/workbook.xml.rels")
    targets = {
        link.get("Id"): link.get("Target", "") for link in links.iter(f"{{{_PKG_REL}}}Relationship")
    }
    sheets = [
        (s.get("name", ""), targets.get(s.get(f"{{{_REL}}}id"), ""))
        for s in workbook.iter(f"{{{_MAIN}}}sheet")
    ]
    if not sheets:
        raise ValueError("the workbook has no sheet")
    if sheet is None:
        target = sheets[0][1]
    else:
        found = [target for name, target in sheets if name == sheet]
        if not found:
            names = ", ".join(repr(name[:40]) for name, _ in sheets[:30])
            raise errors.InvalidRequest(f"There is no sheet {sheet[:100]!r}; the file has {names}.")
        target = found[0]
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


class _SharedStrings:
    """expat handlers collecting `sharedStrings.xml`: rich text runs joined, phonetic guides
    (`rPh`) left out, as openpyxl reads them."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._parts: list[str] = []
        self._in_phonetic = 0
        self._in_text = False

    def start(self, name: str, _: dict[str, str]) -> None:
        local = name.rpartition("}")[2]
        if local == "si":
            self._parts = []
        elif local == "rPh":
            self._in_phonetic += 1
        elif local == "t" and not self._in_phonetic:
            self._in_text = True

    def end(self, name: str) -> None:
        local = name.rpartition("}")[2]
        if local == "si":
            self.strings.append("".join(self._parts))
        elif local == "rPh":
            self._in_phonetic -= 1
        elif local == "t":
            self._in_text = False

    def text(self, data: str) -> None:
        if self._in_text:
            self._parts.append(data)

    def flush(self) -> list[list[object]]:
        return []


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    reader = _SharedStrings()
    with archive.open("xl/sharedStrings.xml") as xml:
        for _ in _run(xml, reader):
            pass
    return reader.strings


def _date_styles(archive: zipfile.ZipFile) -> tuple[set[int], Any]:
    """The cell style indices whose number format is a date, and the workbook's epoch."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

    workbook = _parse(archive, "xl/workbook.xml")
    properties = workbook.find(f"{{{_MAIN}}}workbookPr")
    date1904 = properties is not None and properties.get("date1904") in ("1", "true")
    epoch = CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900
    if "xl/styles.xml" not in archive.namelist():
        return set(), epoch
    styles = _parse(archive, "xl/styles.xml")
    custom = {
        int(f.get("numFmtId", -1)): f.get("formatCode", "")
        for f in styles.iter(f"{{{_MAIN}}}numFmt")
    }
    cell_formats = styles.find(f"{{{_MAIN}}}cellXfs")
    dated = set()
    for index, xf in enumerate(cell_formats if cell_formats is not None else []):
        number_format = int(xf.get("numFmtId", 0))
        code = custom.get(number_format, BUILTIN_FORMATS.get(number_format, "General"))
        if is_date_format(code):
            dated.add(index)
    return dated, epoch


def _column(reference: str) -> int:
    """`AB12` -> 27 (0-based column)."""
    number = 0
    for char in reference:
        if char.isdigit():
            break
        number = number * 26 + (ord(char.upper()) - 64)
    return number - 1


class _SheetRows:
    """expat handlers turning a sheet's XML into rows: each cell's value as openpyxl's
    read-only, data-only reading gives it; rows the sheet leaves out come as empty rows."""

    def __init__(self, strings: list[str], date_styles: set[int], epoch: Any) -> None:
        self._strings = strings
        self._date_styles = date_styles
        self._epoch = epoch
        self._done: list[list[object]] = []
        self._row: list[object] = []
        self._next_row = 1
        self._type = "n"
        self._style = 0
        self._column = 0
        self._value: list[str] = []
        self._collect = False
        self._in_inline = False

    def start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition("}")[2]
        if local == "c":
            reference = attributes.get("r")
            self._column = _column(reference) if reference else len(self._row)
            self._type = attributes.get("t", "n")
            self._style = int(attributes.get("s", 0))
            self._value = []
        elif local == "v" or (local == "t" and self._in_inline):
            self._collect = True
        elif local == "is":
            self._in_inline = True
        elif local == "rPh":
            self._in_inline = False  # phonetic guides are not the cell's text
        elif local == "row":
            number = int(attributes.get("r", self._next_row))
            while self._next_row < number:
                self._done.append([])
                self._next_row += 1
            self._row = []

    def end(self, name: str) -> None:
        local = name.rpartition("}")[2]
        if local in ("v", "t"):
            self._collect = False
        elif local == "is":
            self._in_inline = False
        elif local == "c":
            if self._column >= len(self._row):
                self._row.extend([None] * (self._column + 1 - len(self._row)))
            self._row[self._column] = self._cell_value("".join(self._value))
        elif local == "row":
            self._done.append(self._row)
            self._next_row += 1

    def text(self, data: str) -> None:
        if self._collect:
            self._value.append(data)

    def flush(self) -> list[list[object]]:
        done, self._done = self._done, []
        return done

    def _cell_value(self, raw: str) -> object:
        kind = self._type
        if kind in ("inlineStr", "str", "e", "d"):
            return raw or None
        if not raw:
            return None
        if kind == "s":
            return self._strings[int(raw)]
        if kind == "b":
            return raw == "1"
        number = float(raw) if ("." in raw or "E" in raw or "e" in raw) else int(raw)
        if self._style in self._date_styles:
            from openpyxl.utils.datetime import from_excel

            try:
                return from_excel(number, self._epoch)
            except (ValueError, OverflowError):
                return number
        return number


class _Handlers(Protocol):
    def start(self, name: str, attributes: dict[str, str]) -> None: ...
    def end(self, name: str) -> None: ...
    def text(self, data: str) -> None: ...
    def flush(self) -> list[list[object]]: ...


def _run(xml: IO[bytes], handlers: _Handlers) -> Iterator[list[object]]:
    """Feed `xml` to expat in pieces, DTDs and entity declarations refused; yield the rows
    each piece completed."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True

    def refuse(*_: object) -> None:
        raise ValueError("an XLSX part declares a DTD or entities")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = handlers.start
    parser.EndElementHandler = handlers.end
    parser.CharacterDataHandler = handlers.text
    while piece := xml.read(_READ_STEP):
        parser.Parse(piece, False)
        yield from handlers.flush()
    parser.Parse(b"", True)
    yield from handlers.flush()


def _blocks(rows: Iterable[Sequence[object]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    count = 0
    for row in rows:
        values = [cell_text(value) for value in row]
        while values and not values[-1]:
            values.pop()  # trailing empty cells: a blank row stays a blank line
        writer.writerow(values)
        count += 1
        if count == _ROWS_PER_BLOCK:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            count = 0
    if count:
        yield buffer.getvalue().encode("utf-8")
