"""The XLSX reader against openpyxl's own reading: the same rows, cell for cell, for workbooks
written by openpyxl with every kind of value, gaps, several sheets and the 1904 date system."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numcheck import errors, xlsxinput

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda f: abs(f) < 1e15),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x7f"),
        max_size=12,
    ).filter(lambda t: not t.startswith("=")),
    st.sampled_from(["+4915112345678", "0049 151 1234", "a\nb", 'q"uote', "x,y", " pad "]),
    st.datetimes(min_value=dt.datetime(1901, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2100, 1, 1)),
)
ROWS = st.lists(st.lists(VALUES, max_size=6), max_size=12)


def written(
    sheets: list[list[list[object]]], *, gaps: bool, date1904: bool, write_only: bool = False
) -> bytes:
    """A workbook as openpyxl writes it: inline strings, or (write-only mode, as exports are
    streamed) shared strings."""
    if write_only:
        book = openpyxl.Workbook(write_only=True)
        if date1904:
            book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
        for n, rows in enumerate(sheets):
            sheet = book.create_sheet(f"Sheet {n}")
            for row in rows:
                sheet.append(row)
                if gaps:
                    sheet.append([])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    book = openpyxl.Workbook()
    book.remove(book.active)
    if date1904:
        book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    for n, rows in enumerate(sheets):
        sheet = book.create_sheet(f"Sheet {n}")
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    sheet.cell(row=r * (2 if gaps else 1) + 1, column=c + 1, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


_INLINE = re.compile(
    rb'<c ([^>]*?)t="inlineStr"([^>]*)><is>(<t[^>]*>.*?</t>|<t[^>]*/>)</is></c>', re.S
)
_SST = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def with_shared_strings(content: bytes, extra: bytes = b"") -> bytes:
    """The workbook with its inline strings moved to xl/sharedStrings.xml, as Excel stores
    text (openpyxl itself writes inline strings); `extra` adds <si> entries after them."""
    strings: list[bytes] = []

    def shared(match: re.Match[bytes]) -> bytes:
        strings.append(match.group(3))
        return b'<c %st="s"%s><v>%d</v></c>' % (match.group(1), match.group(2), len(strings) - 1)

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = _INLINE.sub(shared, data)
            elif item.filename == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="%s"/></Types>' % _SST,
                )
            elif item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdSst" Type="%s" Target="sharedStrings.xml"/>'
                    b"</Relationships>" % _SST_REL,
                )
            target.writestr(item, data)
        entries = b"".join(b"<si>%s</si>" % text for text in strings) + extra
        target.writestr(
            "xl/sharedStrings.xml",
            b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">%s</sst>'
            % entries,
        )
    return out.getvalue()


def openpyxl_reading(content: bytes, sheet: str | None) -> bytes:
    """What the reader must give: openpyxl's read-only, data-only rows as the CSV lines
    numcheck makes of them."""
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    chosen = book[sheet] if sheet is not None else book.worksheets[0]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in chosen.iter_rows(values_only=True):
        values = [xlsxinput.cell_text(value) for value in row]
        while values and not values[-1]:
            values.pop()
        writer.writerow(values)
    return out.getvalue().encode()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(ROWS, min_size=1, max_size=3),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(min_value=0, max_value=2),
)
def test_rows_are_openpyxls_rows(
    sheets: list[list[list[object]]], gaps: bool, date1904: bool, write_only: bool, pick: int
) -> None:
    content = written(sheets, gaps=gaps, date1904=date1904, write_only=write_only)
    if write_only:  # and Excel's way of storing text
        content = with_shared_strings(content)
    sheet = f"Sheet {pick}" if pick < len(sheets) else None
    ours = b"".join(xlsxinput.rows_as_csv(io.BytesIO(content), sheet))
    assert ours.rstrip(b"\n") == openpyxl_reading(content, sheet).rstrip(b"\n")


def test_a_dtd_is_refused() -> None:
    """No DTD, so no entity expansion (billion laughs) and no external entity."""
    content = written([[["+4915112345678"]]], gaps=False, date1904=False)
    patched = io.BytesIO()

    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert not data.startswith(b"<?xml")
                data = b'<!DOCTYPE w [<!ENTITY x "boom">]>' + data
            target.writestr(item, data)
    with pytest.raises(errors.UndecodableFile):
        b"".join(xlsxinput.rows_as_csv(io.BytesIO(patched.getvalue()), None))


@pytest.mark.parametrize(
    ("part", "old", "new"),
    [
        # A shared string that is not there.
        (
            "xl/worksheets/sheet1.xml",
            b't="inlineStr"><is><t>+4915112345678</t></is>',
            b't="s"><v>99</v>',
        ),
        ("xl/workbook.xml", b"<sheets>", b"<sheets><broken"),  # not XML
        ("xl/worksheets/sheet1.xml", b"<sheetData>", b"<sheetData><row><c><v>1</c>"),
    ],
)
def test_a_damaged_workbook_is_undecodable_not_a_crash(part: str, old: bytes, new: bytes) -> None:
    content = written([[["+4915112345678"]]], gaps=False, date1904=False)
    patched = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == part:
                assert old in data
                data = data.replace(old, new, 1)
            target.writestr(item, data)
    with pytest.raises(errors.UndecodableFile):
        b"".join(xlsxinput.rows_as_csv(io.BytesIO(patched.getvalue()), None))


def test_shared_rich_text_joins_its_runs_without_phonetic_guides() -> None:
    content = written([[["+4915112345678", "x"]]], gaps=False, date1904=False)
    rich = (
        b'<si><r><t>+49 151</t></r><r><rPr><b/></rPr><t xml:space="preserve"> 12345678</t></r>'
        b'<rPh sb="0" eb="1"><t>guide</t></rPh></si>'
    )
    shared = with_shared_strings(content, extra=rich)
    patched = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(shared)) as source, zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<v>1</v>", b"<v>2</v>")  # B1: the rich entry
            target.writestr(item, data)
    ours = b"".join(xlsxinput.rows_as_csv(io.BytesIO(patched.getvalue()), None))
    assert ours == b"+4915112345678,+49 151 12345678\n"
    assert ours == openpyxl_reading(patched.getvalue(), None)
