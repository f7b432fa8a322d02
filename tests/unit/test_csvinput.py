"""CsvToCanonical on real bytes: the header rule, the column choice, line numbers kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numcheck import errors
from numcheck.csvinput import SAMPLE_ROWS, CsvToCanonical
from numcheck.textlines import LineIndex, LineSplitter


def canonical(
    raw: bytes,
    column: str | None = None,
    id_column: str | None = None,
    region: str | None = None,
    piece: int = 5,
) -> list[str]:
    """The canonical lines for `raw`, fed in pieces as an upload arrives."""
    splitter, csv_input = LineSplitter(1024), CsvToCanonical(column, id_column, region)
    out = b""
    for start in range(0, len(raw), piece):
        out += csv_input.take(splitter.feed_block(raw[start : start + piece]))
    out += csv_input.take(splitter.finish_block()) + csv_input.finish()
    return out.decode().split("\n")[:-1]


@pytest.mark.parametrize("piece", [1, 3, 1000])
def test_a_plain_list_of_numbers_has_no_header(piece: int) -> None:
    assert canonical(b"+12025550101\n+4915112345678\n", piece=piece) == [
        "+12025550101",
        "+4915112345678",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"phone,name\n+12025550101,b\n", ["", "+12025550101"]),
        (b"Telefon;Name\n+12025550101\n", ["", "+12025550101"]),
        (b"nope,x\n+12025550101,b\n", ["", "+12025550101"]),
        # Blank lines are skipped: the first non-blank row decides.
        (b"\n \n+12025550101,b\n", ["", "", "+12025550101"]),
        (b"+4915112345678,alice\n+12025550101,b\n", ["+4915112345678", "+12025550101"]),
        (b"0049 151 12345678,a\n+12025550101,b\n", ["0049 151 12345678", "+12025550101"]),
        (b"c1,+4915112345678\nc2,+12025550101\n", ["+4915112345678", "+12025550101"]),
    ],
)
def test_the_first_non_blank_row_is_a_header_only_when_no_field_is_a_number(
    raw: bytes, expected: list[str]
) -> None:
    assert canonical(raw) == expected


def test_bare_national_digits_are_numbers_only_under_a_region() -> None:
    raw = b"015112345678,alice\n030 1234567,bob\n"
    assert canonical(raw, region="DE") == ["015112345678", "030 1234567"]
    # Without a region bare digits are not numbers: the first row is a header, and no column
    # looks like phone numbers.
    with pytest.raises(errors.InvalidRequest, match="No column"):
        canonical(raw)


def test_a_named_column_or_id_column_means_a_header() -> None:
    raw = b"+12025550101,c1\n+4915112345678,c2\n"
    with pytest.raises(errors.InvalidRequest, match="not in the header row"):
        canonical(raw, id_column="customer")
    named = b"phone,customer\n+12025550101,c1\n\n+4915112345678,c2\n"
    assert canonical(named, id_column="customer") == [
        "",
        "+12025550101\tc1",
        "",
        "+4915112345678\tc2",
    ]
    assert canonical(named, column="phone") == ["", "+12025550101", "", "+4915112345678"]


def test_without_a_header_the_column_is_chosen_from_the_rows() -> None:
    raw = b"c1,Ann,+12025550101\nc2,Bob,nope\nc3,Cy,+4915112345678\n"
    assert canonical(raw) == ["+12025550101", "nope", "+4915112345678"]


@pytest.mark.parametrize("raw", [b"phone,name\n", b"\n\nphone,name\n\n \n", b"", b"\n \n"])
def test_a_header_without_data_rows_gives_blank_lines_only(raw: bytes) -> None:
    """Intake then answers empty_file, not 'no column looks like phone numbers'."""
    lines = canonical(raw, id_column="name" if raw.strip() else None)
    assert lines == [""] * len(lines)
    assert not any(canonical(raw))


def test_rows_wait_for_the_column_choice_but_blank_lines_do_not_hold_them() -> None:
    csv_input = CsvToCanonical(None, None)
    assert csv_input.take(LineIndex(b"\n\n")) == b"\n\n"  # nothing to wait for
    assert csv_input.take(LineIndex(b"+12025550101,a\n")) == b""  # sampled, waiting
    # A megabyte of blank lines behind the row releases it: held rows stay bounded.
    released = csv_input.take(LineIndex(b"\n" * (1 << 20)))
    assert released == b"+12025550101\n" + b"\n" * (1 << 20)
    # So does the last row of the sample.
    rows = b"".join(b"+1202555%04d,x\n" % i for i in range(SAMPLE_ROWS))
    assert CsvToCanonical(None, None).take(LineIndex(rows)).count(b"\n") == SAMPLE_ROWS


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["+12025550101,a", "phone,name", "", " ", "x,+4915112345678", "nope,y", '"q,1",+1202']
        ),
        max_size=30,
    ),
    st.integers(min_value=1, max_value=9),
)
def test_one_canonical_line_per_physical_line(rows: list[str], piece: int) -> None:
    raw = "".join(row + "\n" for row in rows).encode()
    try:
        lines = canonical(raw, piece=piece)
    except errors.InvalidRequest:
        return  # no column looks like phone numbers
    assert len(lines) == len(rows)
    assert all(row.strip() for line, row in zip(lines, rows, strict=True) if line)
