"""UploadIntake: decoding, line ends, counting and chunk planning, on real bytes."""

import codecs
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numcheck import errors
from numcheck.tasks.intake import Limits, UploadIntake

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
    for before, after in zip(result.chunks, result.chunks[1:]):
        assert before.end_byte == after.start_byte
    assert sum(c.lines for c in result.chunks) == result.total == sum(1 for l in lines if l.strip())
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
