"""CsvToCanonical on real bytes: the header rule, the column choice, line numbers kept."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numcheck import errors
from numcheck.csvinput import SAMPLE_ROWS, CsvToCanonical, delimiter_named, for_file
from numcheck.textlines import LineIndex, LineSplitter


def canonical(
    raw: bytes,
    column: str | None = None,
    id_column: str | None = None,
    region: str | None = None,
    piece: int = 5,
    delimiter: str | None = None,
    filename: str = "numbers.csv",
) -> list[str]:
    """The canonical lines for `raw`, fed in pieces as an upload arrives."""
    splitter = LineSplitter(1024)
    csv_input = for_file(
        filename, column=column, id_column=id_column, default_region=region, delimiter=delimiter
    )
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
    # So does the last row of the sample (a header and SAMPLE_ROWS rows).
    rows = b"".join(b"+1202555%04d,x\n" % i for i in range(SAMPLE_ROWS + 1))
    assert CsvToCanonical(None, None).take(LineIndex(rows)).count(b"\n") == SAMPLE_ROWS + 1


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


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("filename", ["export.csv", "export.txt", "export"])
def test_the_delimiter_is_found_from_the_rows(delimiter: str, filename: str) -> None:
    raw = f"id{delimiter}phone\n1{delimiter}+12025550101\n2{delimiter}+4915112345678\n".encode()
    assert canonical(raw, filename=filename) == ["", "+12025550101", "+4915112345678"]
    assert canonical(raw, column="phone", id_column="id", filename=filename) == [
        "",
        "+12025550101\t1",
        "+4915112345678\t2",
    ]


def test_european_csv_with_decimal_commas_splits_on_semicolons() -> None:
    raw = b"name;amount;phone\nAnn;3,50;+4915112345678\nBob;12,00;+12025550101\n"
    assert canonical(raw) == ["", "+4915112345678", "+12025550101"]


def test_tsv_files_are_tab_separated_and_a_named_delimiter_wins() -> None:
    raw = b"phone\tnote\n+12025550101\ta,b\n+4915112345678\tc;d\n"
    assert canonical(raw, filename="x.tsv") == ["", "+12025550101", "+4915112345678"]
    assert canonical(raw, filename="x.tsv.gz") == ["", "+12025550101", "+4915112345678"]
    piped = b"+12025550101|a,b\n+4915112345678|c,d\n"
    assert canonical(piped, delimiter="|") == ["+12025550101", "+4915112345678"]


def test_a_plain_list_stays_plain_unless_every_row_splits_alike() -> None:
    plain = b"+1 (202) 555-0101\n+49 151 12345678\nnot a number, really\n"
    assert canonical(plain, filename="list.txt") == plain.decode().split("\n")[:-1]
    tabbed = b"+12025550101\talice\n+4915112345678\tbob\n"
    assert canonical(tabbed, filename="list.txt") == ["+12025550101", "+4915112345678"]


@pytest.mark.parametrize("value", [",", ";", "\t", "|", "comma", "Semicolon", "tab", "pipe"])
def test_delimiter_field_values(value: str) -> None:
    assert delimiter_named(value) in {",", ";", "\t", "|"}


@pytest.mark.parametrize("value", [":", "space", ",,"])
def test_an_unknown_delimiter_is_refused(value: str) -> None:
    with pytest.raises(errors.InvalidRequest, match="delimiter must be"):
        delimiter_named(value)


@pytest.mark.parametrize("piece", [1, 4, 1000])
def test_quoted_fields_hold_delimiters_quotes_and_line_breaks(piece: int) -> None:
    raw = (
        b"phone,note\n"
        b'+12025550101,"first line\nsecond, with a comma\nthird ""quoted"""\n'
        b"\n"
        b'"+4915112345678","one line"\n'
        b'5" screen,x\n'
    )
    # One canonical line per physical line; a record's line is where it starts.
    assert canonical(raw, column="phone", piece=piece) == [
        "",
        "+12025550101",
        "",
        "",
        "",
        "+4915112345678",
        '5" screen',
    ]


def test_an_id_with_a_line_break_stays_on_its_record_line() -> None:
    raw = b'phone,customer\n+12025550101,"Ann\nSmith"\n+4915112345678,Bob\n'
    assert canonical(raw, id_column="customer") == [
        "",
        "+12025550101\tAnn Smith",
        "",
        "+4915112345678\tBob",
    ]


def test_an_unclosed_quote_is_refused_once_it_runs_too_long() -> None:
    raw = b'phone,note\n+12025550101,"never closed\n' + b"more text\n" * 20_000
    with pytest.raises(errors.LineTooLong, match="closing quote"):
        canonical(raw, column="phone", piece=4096)


def test_an_unclosed_quote_at_the_end_ends_with_the_file() -> None:
    raw = b'phone,note\n+12025550101,"never\nclosed\n'
    assert canonical(raw, column="phone") == ["", "+12025550101", ""]


_FIELD = st.text(alphabet=st.sampled_from(list("ab ,;|\t\"\n'=+")), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["+12025550101", "+4915112345678", "bad"]), _FIELD),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from([",", ";", "\t", "|"]),
    st.integers(min_value=1, max_value=64),
)
def test_records_written_by_csv_writer_read_back_at_their_first_line(
    rows: list[tuple[str, str]], delimiter: str, piece: int
) -> None:
    """Whatever csv.writer writes (quotes, delimiters and line breaks in fields) reads back:
    each record's number on the physical line where the record starts."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["phone", "note"])
    writer.writerows(rows)
    raw = out.getvalue()
    lines = canonical(raw.encode(), column="phone", delimiter=delimiter, piece=piece)
    assert len(lines) == raw.count("\n")
    expected, line_no = [], 1  # the header is line 0
    for number, note in rows:
        expected.append((line_no, number))
        line_no += 1 + note.count("\n")
    assert [(n, line) for n, line in enumerate(lines) if line] == expected
