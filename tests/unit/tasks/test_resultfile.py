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

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numcheck.checks import Failure
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
        counts = resultfile.write_parts(
            blobs, "task1", idx, numbered, outcomes, ["a", "b,c"][: len(numbered)], layout
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
    text = resultfile.jsonl_text([("12", '"=x', "not_a_number")], ("line", "input", "reason"))
    assert json.loads(text) == {"line": 12, "input": '"=x', "reason": "not_a_number"}
