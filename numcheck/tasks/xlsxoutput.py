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


def sheet_rows(rows: Iterable[Sequence[str]]) -> str:
    """Rows as a sheet's `<row>` elements, every cell an inline string."""
    cell = _cell
    return "".join(["<row>" + "".join([cell(v) for v in row]) + "</row>" for row in rows])


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
