"""XLSX result rows: the column-wise rendering is the cell-by-cell one, and openpyxl reads the
workbook back with the same values."""

from __future__ import annotations

import io

import openpyxl
from hypothesis import given, settings
from hypothesis import strategies as st

from numcheck.tasks import xlsxoutput
from numcheck.tasks.zipwriter import Segment

# Plain values (laid between the tags as they are), values that need escaping, replacing or
# xml:space, empty ones, non-ASCII ones, and Unicode spaces.
VALUE = st.one_of(
    st.text(alphabet=st.sampled_from(list("+0123 ab-")), max_size=6),
    st.sampled_from(["", "yes", "no", "AT&T", "<x>", " lead", "trail\t", "é", "a\x01b", "\xa0x"]),
    st.text(max_size=4),
)


def cell_by_cell(rows: list[list[str]]) -> str:
    return "".join("<row>" + "".join(map(xlsxoutput._cell, row)) + "</row>" for row in rows)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4).flatmap(lambda w: st.lists(st.lists(VALUE, min_size=w, max_size=w))))
def test_rows_render_as_cell_by_cell(rows: list[list[str]]) -> None:
    assert xlsxoutput.sheet_rows(rows) == cell_by_cell(rows)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(VALUE, min_size=0, max_size=3), max_size=6))
def test_rows_of_different_widths_render_as_cell_by_cell(rows: list[list[str]]) -> None:
    assert xlsxoutput.sheet_rows(rows) == cell_by_cell(rows)


def test_a_column_of_repeated_values_and_one_of_plain_values_read_back_in_openpyxl() -> None:
    rows = [
        [f"+4915{n:09d}", ["yes", "no"][n % 2], ["AT&T", " x ", "", "é<"][n % 4]] for n in range(40)
    ]
    out = io.BytesIO()
    xlsxoutput.write_workbook(
        out, ["Number", "valid", "carrier"], [Segment.of(xlsxoutput.sheet_rows(rows).encode())]
    )
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).active
    read = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert read == [["Number", "valid", "carrier"]] + [
        [value or None for value in row] for row in rows
    ]
