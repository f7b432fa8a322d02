"""Result parts and the zip: rows exactly as csv.writer writes them, parts compressed in the
worker and laid end to end into entries that zipfile and unzip read back whole."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numcheck.checks import BatchResult, Failure
from numcheck.states import ResultFormat
from numcheck.storage.blobs import LocalBlobStore
from numcheck.tasks import resultfile
from numcheck.tasks.zipwriter import Segment, ZipWriter, crc32_combine

FIELD = st.text(alphabet=st.sampled_from(list('ab,"\r\n +é9 ')), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(FIELD, min_size=2, max_size=5), max_size=20))
def test_rows_render_exactly_as_csv_writer_does(rows: list[list[str]]) -> None:
    expected = io.StringIO()
    csv.writer(expected).writerows(rows)
    assert resultfile.csv_text(rows) == expected.getvalue()


# Mostly plain fields (the joined fast path), some needing quotes, rows of any width.
PLAIN = st.text(alphabet=st.sampled_from(list("+0123 ab-é")), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(PLAIN, PLAIN, PLAIN, FIELD), max_size=5), max_size=30))
def test_rows_of_any_width_render_exactly_as_csv_writer_does(rows: list[list[str]]) -> None:
    expected = io.StringIO()
    csv.writer(expected).writerows(rows)
    assert resultfile.csv_text(rows) == expected.getvalue()


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=5).flatmap(
        lambda width: st.lists(
            st.lists(st.one_of(PLAIN, PLAIN, FIELD), min_size=width, max_size=width), max_size=30
        )
    )
)
def test_rows_given_as_columns_render_exactly_as_csv_writer_does(rows: list[list[str]]) -> None:
    """Mostly plain columns (laid as they are), some with values to quote, empty values among
    them (written empty, but for a row of one field: '""')."""
    expected = io.StringIO()
    csv.writer(expected).writerows(rows)
    columns = [list(column) for column in zip(*rows, strict=True)]
    assert resultfile.csv_columns(columns) == expected.getvalue()


@pytest.mark.parametrize(
    "rows",
    [
        [["a", "b"], [""]],  # one empty field: '""'
        [["a", "b"], []],  # no field: an empty line
        [["a", "b\r"], ["c", "d"]],  # a line end inside a field, the count of commas right
        [["a\nb", "c"], ["d,e"]],  # a line end and a comma: the counts would balance out
        [["a,b"], ["c", "d"]],
    ],
)
def test_rows_that_defeat_the_joined_path_render_as_csv_writer_does(
    rows: list[list[str]],
) -> None:
    expected = io.StringIO()
    csv.writer(expected).writerows(rows)
    assert resultfile.csv_text(rows) == expected.getvalue()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.binary(max_size=70_000))
def test_crc32_combine_equals_the_crc_of_the_concatenation(a: bytes, b: bytes) -> None:
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_segments_compressed_apart_read_back_as_one_entry(tmp_path: Path) -> None:
    parts = [
        b"".join(b"+49151%08d,yes\r\n" % (i * 7 + n) for i in range(n * 300)) for n in range(5)
    ]
    path = tmp_path / "t.zip"
    with open(path, "wb") as out:
        archive = ZipWriter(out)
        archive.begin("results.csv")
        archive.write(b"Number,valid\r\n")
        for part in parts:
            archive.append(Segment.of(part))
        archive.write(b"+1,no\r\n")  # written here after appended segments
        archive.end()
        archive.begin("empty.csv")
        archive.end()
        archive.close()
    with zipfile.ZipFile(path) as opened:
        assert opened.testzip() is None
        assert opened.read("results.csv") == b"Number,valid\r\n" + b"".join(parts) + b"+1,no\r\n"
        assert opened.read("empty.csv") == b""
    if shutil.which("unzip"):
        tested = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
        assert "No errors detected" in tested.stdout, tested.stdout


def test_a_chunk_writes_its_rows_and_failures_and_the_zip_reads_them_in_order(
    tmp_path: Path,
) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    layout = resultfile.Layout(("htx",), id_column="crm_id")
    chunks = [
        ([(1, "+12025550101"), (2, "=cmd")], [("+12025550101", "yes"), Failure("not_a_number")]),
        ([(3, "+4915112345678")], [("+4915112345678", 'no, "quoted"')]),
    ]
    for idx, (numbered, outcomes) in enumerate(chunks):
        lines = [line for _, line in numbered]
        line_numbers = [line_no for line_no, _ in numbered]
        ids = ["a", "b,c"][: len(numbered)]
        counts = resultfile.write_parts(
            blobs, "task1", idx, lines, line_numbers, BatchResult.of(outcomes), ids, layout
        )
        assert counts[:2] == (
            sum(not isinstance(o, Failure) for o in outcomes),
            sum(isinstance(o, Failure) for o in outcomes),
        )
    out = io.BytesIO()
    resultfile.write_zip(blobs, out, "task1", 2, layout, {"failure": 1, "task_id": "task1"})
    with zipfile.ZipFile(out) as opened:
        assert opened.read("results.csv").decode().splitlines() == [
            "Number,htx,crm_id",
            "+12025550101,yes,a",
            '+4915112345678,"no, ""quoted""",a',
        ]
        assert opened.read("failed.csv").decode().splitlines() == [
            "line,input,reason,crm_id",
            '2,\'=cmd,not_a_number,"b,c"',
        ]
        assert '"task_id": "task1"' in opened.read("summary.json").decode()


def test_a_part_that_is_not_one_is_refused(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    with blobs.writer("parts/task1/000000.results.z") as out:
        out.write(b"Number,valid\r\n+1,yes\r\n")
    with pytest.raises(ValueError, match="not a result part"):
        resultfile.write_zip(
            blobs, io.BytesIO(), "task1", 1, resultfile.Layout(("valid",)), {"failure": 0}
        )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True),
    st.lists(st.lists(st.text(max_size=8), min_size=4, max_size=4), max_size=10),
)
def test_jsonl_rows_are_what_json_dumps_writes(header: list[str], rows: list[list[str]]) -> None:
    rows = [row[: len(header)] for row in rows]
    expected = "".join(
        json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False, separators=(",", ":"))
        + "\n"
        for row in rows
    )
    assert resultfile.jsonl_text(rows, header) == expected


def test_a_failure_line_is_a_json_number() -> None:
    text = resultfile.jsonl_text(
        [("12", '"=x', "not_a_number")], ("line", "input", "reason"), numbered=True
    )
    assert json.loads(text) == {"line": 12, "input": '"=x', "reason": "not_a_number"}


OUTCOME = st.one_of(
    st.tuples(PLAIN, FIELD, PLAIN),
    st.builds(Failure, st.sampled_from(["not_a_number", "too_short"])),
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.text(max_size=8), OUTCOME, PLAIN), min_size=1, max_size=12),
    st.booleans(),
    st.booleans(),
)
def test_a_chunks_files_are_what_csv_writer_writes_of_its_rows(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[tuple[str, tuple[str, ...] | Failure, str]],
    with_ids: bool,
    include_failed: bool,
) -> None:
    """Every path of write_parts (failures apart or among the rows, an id column or none)
    against rows built one by one and written by csv.writer."""
    blobs = LocalBlobStore(tmp_path_factory.mktemp("blobs"))
    layout = resultfile.Layout(
        ("a", "b"), id_column="id" if with_ids else None, include_failed=include_failed
    )
    texts = [text for text, _, _ in lines]
    outcomes = [outcome for _, outcome, _ in lines]
    ids = [identifier for _, _, identifier in lines] if with_ids else None
    line_numbers = range(7, 7 + len(lines))
    answered, failed = resultfile.write_parts(
        blobs, "t", 0, texts, line_numbers, BatchResult.of(outcomes), ids, layout
    )[:2]
    rows, failures = [], []
    for n, outcome in enumerate(outcomes):
        extra = [resultfile.neutralise(ids[n])] if ids is not None else []
        echoed = resultfile.neutralise(texts[n].strip())
        if isinstance(outcome, Failure):
            if include_failed:
                rows.append([echoed, "", "", *extra, outcome.reason])
            else:
                failures.append([str(7 + n), echoed, outcome.reason, *extra])
        else:
            rows.append([*outcome, *extra, *([""] if include_failed else [])])
    failed_count = sum(isinstance(outcome, Failure) for outcome in outcomes)
    assert (answered, failed) == (len(lines) - failed_count, failed_count)
    out = io.BytesIO()
    resultfile.write_zip(blobs, out, "t", 1, layout, {"failure": failed})
    with zipfile.ZipFile(out) as opened:
        for name, header, expected_rows in (
            ("results.csv", layout.results_header, rows),
            ("failed.csv", layout.failed_header, failures),
        ):
            if name == "failed.csv" and (not failed or include_failed):
                assert name not in opened.namelist()
                continue
            expected = io.StringIO()
            csv.writer(expected).writerows([header, *expected_rows])
            assert opened.read(name).decode() == expected.getvalue()


def test_a_stored_entry_reads_back_whole_and_through_first_entry(tmp_path: Path) -> None:
    workbook = bytes(range(256)) * 5000  # a workbook is compressed already: stored as it is
    path = tmp_path / "t.zip"
    with open(path, "wb") as out:
        archive = ZipWriter(out)
        archive.begin("results.xlsx", stored=True)
        archive.write(workbook[:1000])
        archive.write(workbook[1000:])
        archive.end()
        archive.begin("summary.json")
        archive.write(b"{}\n")
        archive.end()
        archive.close()
    with zipfile.ZipFile(path) as opened:
        assert opened.testzip() is None
        assert opened.getinfo("results.xlsx").compress_type == zipfile.ZIP_STORED
        assert opened.read("results.xlsx") == workbook
    name, content = resultfile.first_entry(open(path, "rb"))  # noqa: SIM115 (it closes it)
    assert (name, b"".join(content)) == ("results.xlsx", workbook)
    if shutil.which("unzip"):
        tested = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
        assert "No errors detected" in tested.stdout, tested.stdout


def test_an_xlsx_result_zip_holds_a_workbook_openpyxl_reads_and_previews(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    layout = resultfile.Layout(("valid", "carrier"), result_format=ResultFormat.XLSX)
    rows = [(f"+4915{n:09d}", "yes", ["AT&T", "", " x"][n % 3]) for n in range(30)]
    answers = BatchResult.of(rows)
    resultfile.write_parts(blobs, "t", 0, [r[0] for r in rows], range(1, 31), answers, None, layout)
    out = io.BytesIO()
    resultfile.write_zip(blobs, out, "t", 1, layout, {"failure": 0})
    with zipfile.ZipFile(out) as opened:
        assert opened.getinfo("results.xlsx").compress_type == zipfile.ZIP_STORED
        sheet = openpyxl.load_workbook(io.BytesIO(opened.read("results.xlsx"))).active
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [
        ["Number", "valid", "carrier"],
        *([value or None for value in row] for row in rows),
    ]
    out.seek(0)
    assert resultfile.preview(out, ResultFormat.XLSX, 2) == [
        ["Number", "valid", "carrier"],
        list(rows[0]),
        ["+4915000000001", "yes", ""],
    ]
