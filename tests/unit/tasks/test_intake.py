"""UploadIntake: decoding, line ends, counting and chunk planning, on real bytes."""

import codecs
import contextlib
import gzip
import io
import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numcheck
from numcheck import errors
from numcheck.config import Settings
from numcheck.csvinput import CsvToCanonical
from numcheck.storage.blobs import LocalBlobStore
from numcheck.tasks.intake import GZIP_ALLOWANCE, GzipInflater, Limits, PendingUpload, UploadIntake

LIMITS = Limits(max_bytes=10_000_000, max_lines=1_000_000, max_line_chars=64, chunk_lines=3)


def run_intake(data: bytes, limits: Limits = LIMITS, piece: int = 7):
    out = io.BytesIO()
    intake = UploadIntake(out, limits)
    for start in range(0, len(data), piece):
        intake.feed(data[start : start + piece])
    return intake.finish(), out.getvalue()


@pytest.mark.parametrize(
    "raw",
    [
        b"+1\n+2\n\n+3\n",
        b"+1\r\n+2\r\n\r\n+3",
        b"+1\r+2\r\r+3\r",
        codecs.BOM_UTF8 + b"+1\n+2\n\n+3\n",
        codecs.BOM_UTF16_LE + "+1\r\n+2\r\n\r\n+3\r\n".encode("utf-16-le"),
        codecs.BOM_UTF16_BE + "+1\n+2\n\n+3".encode("utf-16-be"),
    ],
)
@pytest.mark.parametrize("piece", [1, 2, 3, 1000])
def test_encodings_and_line_ends_give_one_canonical_text(raw: bytes, piece: int) -> None:
    result, text = run_intake(raw, piece=piece)
    assert text == b"+1\n+2\n\n+3\n"
    assert result.total == 3


def test_chunks_cut_after_chunk_lines_non_blank_lines_with_line_numbers() -> None:
    raw = b"a\n\nb\nc\n \nd\ne\n\n\nf\ng\n"
    result, text = run_intake(raw)
    assert result.total == 7
    pieces = [text[c.start_byte : c.end_byte] for c in result.chunks]
    assert pieces == [b"a\n\nb\nc\n", b" \nd\ne\n\n\nf\n", b"g\n"]
    assert [c.first_line for c in result.chunks] == [1, 5, 11]
    assert [c.lines for c in result.chunks] == [3, 3, 1]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["+1", "", " ", "x", "+49 30 1"]), max_size=40),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=1, max_value=9),
)
def test_chunks_partition_the_file_exactly(lines, newline, chunk_lines, piece) -> None:
    raw = newline.join(lines).encode()
    limits = Limits(10_000, 10_000, 64, chunk_lines)
    if not any(line.strip() for line in lines):
        with pytest.raises(errors.EmptyFile):
            run_intake(raw, limits, piece)
        return
    result, text = run_intake(raw, limits, piece)
    assert result.chunks[0].start_byte == 0
    for before, after in itertools.pairwise(result.chunks):
        assert before.end_byte == after.start_byte
    assert (
        sum(c.lines for c in result.chunks)
        == result.total
        == sum(1 for line in lines if line.strip())
    )
    assert all(0 < c.lines <= chunk_lines for c in result.chunks)
    # Each chunk's first line number points at its first line in the canonical text.
    all_lines = text.decode().split("\n")
    for chunk in result.chunks:
        first = text[chunk.start_byte : chunk.end_byte].decode().split("\n")[0]
        assert all_lines[chunk.first_line - 1] == first


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", errors.EmptyFile),
        (b"\n \n\t\n", errors.EmptyFile),
        (b"+1\n\x00\x01\x02", errors.BinaryFile),
        (b"+1\n\xff\xfe\xfd garbage \xc3", errors.UndecodableFile),
        (b"+1\n" + b"9" * 65 + b"\n", errors.LineTooLong),
        (b"9" * 1000, errors.LineTooLong),
    ],
)
def test_bad_files_are_refused(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        run_intake(raw)


def test_byte_and_line_limits() -> None:
    with pytest.raises(errors.FileTooLarge):
        run_intake(b"+1\n" * 100, Limits(299, 1000, 64, 10))
    run_intake(b"+1\n" * 100, Limits(300, 1000, 64, 10))
    with pytest.raises(errors.TooManyLines):
        run_intake(b"+1\n" * 101, Limits(10_000, 100, 64, 10))


# -- CSV ------------------------------------------------------------------------------------------


def run_csv_intake(data: bytes, csv_input: CsvToCanonical, limits: Limits = LIMITS):
    out = io.BytesIO()
    intake = UploadIntake(out, limits, csv_input)
    for start in range(0, len(data), 7):
        intake.feed(data[start : start + 7])
    return intake.finish(), out.getvalue()


def test_a_plain_list_read_as_csv_keeps_its_first_line_and_its_line_numbers() -> None:
    result, text = run_csv_intake(
        b"+12025550101\n\n+4915112345678\nx\n+12025550102\n", CsvToCanonical(None, None)
    )
    assert result.total == 4
    assert text == b"+12025550101\n\n+4915112345678\nx\n+12025550102\n"
    assert [(c.first_line, c.lines) for c in result.chunks] == [(1, 3), (5, 1)]


@pytest.mark.parametrize(
    ("raw", "column", "id_column"),
    [
        (b"phone,name\n", None, None),
        (b"phone,name\n\n", None, "name"),
        (b"phone,name\n \n", "phone", None),
    ],
)
def test_a_csv_header_without_rows_is_an_empty_file(
    raw: bytes, column: str | None, id_column: str | None
) -> None:
    with pytest.raises(errors.EmptyFile):
        run_csv_intake(raw, CsvToCanonical(column, id_column))


# -- blank lines ----------------------------------------------------------------------------------


NUMCHECK_SOURCE = str(Path(numcheck.__file__).parent)


def python_lines_executed(work: Callable[[], object]) -> int:
    """How many lines of numcheck's own Python code run while `work` runs."""
    executed = 0

    def in_numcheck(frame, event, arg):  # type: ignore[no-untyped-def]
        nonlocal executed
        if event == "line":
            executed += 1
        return in_numcheck

    def on_call(frame, event, arg):  # type: ignore[no-untyped-def]
        return in_numcheck if frame.f_code.co_filename.startswith(NUMCHECK_SOURCE) else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        work()
    finally:
        sys.settrace(previous)
    return executed


def feed_once(data: bytes, csv_input: CsvToCanonical | None) -> None:
    intake = UploadIntake(io.BytesIO(), Limits(10**9, 10**6, 64, 1000), csv_input)
    intake.feed(data)
    with contextlib.suppress(errors.EmptyFile):
        intake.finish()


@pytest.mark.parametrize("csv", [False, True])
@pytest.mark.parametrize(
    "blank", [b"\n", b" \t\n", b"\r\n", "\u3000\n".encode()], ids=["LF", "spaces", "CRLF", "ideo"]
)
def test_blank_lines_cost_no_python_work_each(csv: bool, blank: bytes) -> None:
    """The same Python lines run for a thousand blank lines as for a hundred thousand: only
    non-blank lines (and multi-byte spaces, which str.strip judges) cost a step of their own."""

    def upload(blank_lines: int) -> bytes:
        rows = [b"+12025550101,a\n", b"+4915112345678,b\n"]
        return rows[0] + blank * blank_lines + rows[1] + blank * blank_lines

    def cost(blank_lines: int) -> int:
        data = upload(blank_lines)
        return python_lines_executed(
            lambda: feed_once(data, CsvToCanonical(None, None) if csv else None)
        )

    few, many = cost(1_000), cost(100_000)
    if blank == "\u3000\n".encode():
        assert many > few  # U+3000 is a space only str.strip knows: one step a line
    else:
        assert many == few


# -- gzip -----------------------------------------------------------------------------------------


MIB = 1 << 20


def test_a_gzip_bomb_is_refused_after_the_allowance_not_after_the_size_limit() -> None:
    bomb = gzip.compress(b"\n" * (256 * MIB), compresslevel=9)  # about 1000 times smaller
    handed: list[bytes] = []
    inflater = GzipInflater(handed.append, max_ratio=100)
    fed = 0
    with pytest.raises(errors.FileTooLarge, match="inflates more than 100 times"):
        for start in range(0, len(bomb), 4096):
            fed += len(bomb[start : start + 4096])
            inflater.feed(bomb[start : start + 4096])
    # Nothing past the allowance was handed on: the step that would cross it was refused.
    assert sum(map(len, handed)) == GZIP_ALLOWANCE
    assert fed == 4096  # the first piece of the request body was enough to tell
    assert inflater.inflated <= 2 * GZIP_ALLOWANCE  # one step decompressed past it, no more


def test_gzip_under_the_ratio_passes_whole() -> None:
    numbers = b"".join(b"+1%010d\n" % (i * 7919 % 10**10) for i in range(300_000))  # ~4 MiB
    packed = gzip.compress(numbers)
    assert len(numbers) / len(packed) < 100
    handed: list[bytes] = []
    inflater = GzipInflater(handed.append, max_ratio=100)
    for start in range(0, len(packed), 4096):
        inflater.feed(packed[start : start + 4096])
    inflater.finish()
    assert b"".join(handed) == numbers


def test_small_gzip_files_are_never_refused_whatever_their_ratio() -> None:
    data = b"+12025550101\n" * (GZIP_ALLOWANCE // 13)  # under a megabyte, ratio in the hundreds
    packed = gzip.compress(data, compresslevel=9)
    assert len(data) / len(packed) > 100
    handed: list[bytes] = []
    inflater = GzipInflater(handed.append, max_ratio=2)
    inflater.feed(packed)
    inflater.finish()
    assert b"".join(handed) == data


def test_the_ratio_is_the_setting(tmp_path: Path) -> None:
    data = b"+12025550101\n" * (4 * MIB // 13)  # ratio in the hundreds, past the allowance
    packed = gzip.compress(data, compresslevel=9)
    blobs = LocalBlobStore(tmp_path)
    refused = PendingUpload(blobs, Limits(10**9, 10**7, 64, 1000, max_gzip_ratio=100))
    with pytest.raises(errors.FileTooLarge):
        refused.feed(packed)
    refused.discard()
    accepted = PendingUpload(blobs, Limits(10**9, 10**7, 64, 1000, max_gzip_ratio=2000))
    accepted.feed(packed)
    assert accepted.finish().total == len(data) // 13
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{accepted.task_id}.txt"]
    assert Limits.from_settings(Settings(max_gzip_ratio=7)).max_gzip_ratio == 7


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_concatenated_gzip_members_are_read_whole(piece: int) -> None:
    """`cat a.gz b.gz` is one gzip file to gzip itself: no member may be dropped."""
    members = [b"+12025550101\n+12025550102\n", b"+4915112345678\n", b"+33612345678\n"]
    packed = b"".join(gzip.compress(member) for member in members) + b"\0" * 20  # tar padding
    handed: list[bytes] = []
    inflater = GzipInflater(handed.append, max_ratio=100)
    for start in range(0, len(packed), piece):
        inflater.feed(packed[start : start + piece])
    inflater.finish()
    assert b"".join(handed) == b"".join(members)


# mtime=0: a header that carries the clock would name the case differently in each xdist worker,
# which then refuse to run a suite they collected differently.
@pytest.mark.parametrize(
    "tail", [b"garbage after the member", gzip.compress(b"+1\n", mtime=0)[:5], b"\x1f"]
)
def test_what_follows_a_gzip_member_is_another_whole_member_or_nothing(tail: bytes) -> None:
    inflater = GzipInflater(lambda _: None, max_ratio=100)
    with pytest.raises(errors.UndecodableFile):
        inflater.feed(gzip.compress(b"+12025550101\n") + tail)
        inflater.finish()
