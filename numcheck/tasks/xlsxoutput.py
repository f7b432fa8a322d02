"""XLSX results, written streaming: a workbook of one sheet whose rows come from the chunks.

A workbook is a zip of a few small XML files and one sheet. Each chunk renders its rows as the
sheet's `<row>` elements and compresses them where it ran, like CSV parts; the workbook's sheet
entry lays those segments end to end (zipwriter.py), so no process ever holds the sheet, and the
result is written at the speed of the CSV path rather than openpyxl's (its write-only mode
renders every cell through Python objects in the one finalizing process).

Every cell is an inline string: numbers stay text, so Excel shows `+4915112345678` and
`0049…` as they are, never as `4.9E+12`. Rows and cells carry no `r` reference: ECMA-376 makes it
optional (a cell follows the one before it) and Excel, LibreOffice, Google Sheets and openpyxl
read such sheets; it is what lets a chunk render its rows without knowing where they will land.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import BinaryIO
from xml.sax.saxutils import escape, unescape

from numcheck.tasks.zipwriter import Segment, ZipWriter

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_NAME = "results"

# Characters XML 1.0 does not allow at all (control characters other than tab and line ends).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_STATIC = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        f'<Relationships xmlns="{_PKG_REL}">'
        '<Relationship Id="rId1" Target="xl/workbook.xml" Type="http://schemas.openxmlformats'
        '.org/officeDocument/2006/relationships/officeDocument"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
        f'<sheet name="{SHEET_NAME}" sheetId="1" r:id="rId1"/>'
        "</sheets></workbook>"
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{_PKG_REL}">'
        '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
        '<Relationship Id="rId2" Target="styles.xml" Type="http://schemas.openxmlformats.org'
        '/officeDocument/2006/relationships/styles"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        f'<styleSheet xmlns="{_MAIN}">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border/></borders>'
        '<cellStyleXfs count="1"><xf/></cellStyleXfs>'
        '<cellXfs count="1"><xf xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}
_SHEET_START = f'<worksheet xmlns="{_MAIN}"><sheetData>'
_SHEET_END = "</sheetData></worksheet>"


def _cell(value: str) -> str:
    if not value:
        return "<c/>"
    text = escape(_NOT_XML.sub("\ufffd", value))
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c t="inlineStr"><is><t{space}>{text}</t></is></c>'


def sheet_rows(rows: Sequence[Sequence[str]]) -> str:
    """Rows as a sheet's `<row>` elements, every cell an inline string.

    Rendered a column at a time, then each row joined in C from a few pieces: a run of columns
    of few distinct values (valid, type, region, carrier, places, reasons) renders each
    distinct combination once, the tags around it included; a column of plain values
    (numbers, formats: nothing to escape, no space at either end, none empty) is laid between
    its cell's tags as it is; any other column renders value by value (`_cell`).
    """
    if not rows:
        return ""
    width = len(rows[0])
    if not width or any(len(row) != width for row in rows):
        return "".join(["<row>" + "".join(map(_cell, row)) + "</row>" for row in rows])
    return sheet_columns(list(zip(*rows, strict=True)))


def sheet_columns(columns: Sequence[Sequence[str]]) -> str:
    """`sheet_rows` of rows given as their columns (of one length, at least one)."""
    pieces: list[Iterable[str]] = []
    before = "<row>"  # tags not yet laid: they go into the next piece that can hold them
    run: list[Sequence[str]] = []  # columns of few values, rendered together
    for column in columns:
        if 2 * len(set(column)) <= len(column):
            run.append(column)
            continue
        if run:
            pieces.extend(_run_pieces(before, run, ""))
            before, run = "", []
        if "" not in column and _plain(column):
            pieces.extend((repeat(before + _OPEN), column))
            before = _CLOSE
        else:
            pieces.extend((repeat(before), map(_cell, column)))
            before = ""
    if run:
        pieces.extend(_run_pieces(before, run, "</row>"))
    else:
        pieces.append(repeat(before + "</row>"))
    return "".join(map("".join, zip(*pieces, strict=False)))  # the tags repeat endlessly


def _run_pieces(before: str, run: list[Sequence[str]], after: str) -> list[Iterable[str]]:
    """Adjacent columns of few values as one piece: each distinct row of them rendered once,
    with the tags `before` and `after` it (or each column apart, when their combinations are
    many)."""
    keys = list(zip(*run, strict=True))
    distinct = set(keys)
    if 2 * len(distinct) <= len(keys):
        rendered = {key: before + "".join(map(_cell, key)) + after for key in distinct}
        return [map(rendered.__getitem__, keys)]
    pieces: list[Iterable[str]] = [repeat(before)]
    for column in run:
        cells = {value: _cell(value) for value in set(column)}
        pieces.append(map(cells.__getitem__, column))
    pieces.append(repeat(after))
    return pieces


_OPEN = '<c t="inlineStr"><is><t>'
_CLOSE = "</t></is></c>"
# Bytes a plain value may hold: printable ASCII but the three escaped ones, tab, line ends (and
# \x00, which separates the values checked and is counted).
_PLAIN_BYTES = bytes(set(range(0x20, 0x7F)) - set(b"&<>") | set(b"\t\n\r\x00"))
# ASCII whitespace at a value's start or end (between separators \x00): xml:space="preserve".
_EDGE_SPACE = [f"\x00{space}" for space in "\t\n\r"] + [f"{space}\x00" for space in "\t\n\r"]


def _plain(column: Sequence[str]) -> bool:
    """No value of `column` needs escaping, replacing or xml:space (ASCII text only: other
    text may hold Unicode spaces, and is rendered value by value)."""
    separated = "\x00" + "\x00".join(column) + "\x00"
    if not separated.isascii() or separated.count("\x00") != len(column) + 1:
        return False
    if separated.encode("ascii").translate(None, _PLAIN_BYTES):
        return False  # an &, < or >, or a control character
    if "\x00 " in separated or " \x00" in separated:
        return False
    # Tabs and line ends are rare in values: their edges are looked for only when present.
    return not any(space in separated for space in "\t\n\r") or not any(
        edge in separated for edge in _EDGE_SPACE
    )


def write_workbook(out: BinaryIO, header: Sequence[str], parts: Iterable[Segment]) -> None:
    """A workbook whose sheet is the header row followed by the rows of `parts`, in order."""
    archive = ZipWriter(out)
    for name, xml in _STATIC.items():
        archive.begin(name)
        archive.write((_XML + xml).encode("utf-8"))
        archive.end()
    archive.begin("xl/worksheets/sheet1.xml")
    archive.write((_XML + _SHEET_START + sheet_rows([header])).encode("utf-8"))
    for segment in parts:
        archive.append(segment)
    archive.write(_SHEET_END.encode("utf-8"))
    archive.end()
    archive.close()


_ROW = re.compile(r"<row>(.*?)</row>", re.S)
_CELL = re.compile(r"<c/>|<c t=\"inlineStr\"><is><t[^>]*>(.*?)</t></is></c>", re.S)
_ENTRY_HEADER = struct.Struct("<IHHHHHIIIHH")
_SHEET = "xl/worksheets/sheet1.xml"


def first_rows(workbook: Iterable[bytes], rows: int) -> list[list[str]]:
    """The first `rows` rows of a workbook this module wrote, from its bytes as they stream:
    its entries are read in order (each local header carries its sizes) up to the sheet's."""
    reader = _Stream(iter(workbook))
    while True:
        fixed = reader.read(_ENTRY_HEADER.size)
        magic, *_, name_length, extra_length = _ENTRY_HEADER.unpack(fixed)
        if magic != 0x04034B50:
            return []
        name = reader.read(name_length).decode("ascii")
        _, _, _, compressed = struct.unpack("<HHQQ", reader.read(extra_length)[:20])
        if name != _SHEET:
            reader.read(compressed)
            continue
        inflate = zlib.decompressobj(-15)
        xml, found = "", list[str]()
        while len(found) < rows and not inflate.eof:
            piece = reader.read(min(compressed, 1 << 16))
            if not piece:
                break
            compressed -= len(piece)
            xml += inflate.decompress(piece).decode("utf-8", "ignore")
            found = _ROW.findall(xml)
        return [[unescape(v) for v in _CELL.findall(row)] for row in found[:rows]]


class _Stream:
    """Exact reads over an iterator of byte pieces."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buffer = b""

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            piece = next(self._pieces, b"")
            if not piece:
                break
            self._buffer += piece
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data
