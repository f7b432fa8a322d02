"""Bytes of an uploaded text file in, complete lines out: decoding and line ends, streamed.

UTF-8 (with or without BOM) and UTF-16 with BOM; LF, CRLF and CR. Used for task uploads and
registry files alike, so both read a file the same way.

Lines come out as a list of strings (`feed`, `finish`) or as one block of UTF-8 bytes with `\n`
after every line (`feed_block`, `finish_block`). `LineIndex` finds a block's line ends and its
non-blank lines with numpy: a file of blank lines costs no Python work per line.
"""

from __future__ import annotations

import codecs
from functools import cached_property

import numpy as np

from numcheck import errors

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_NEWLINE = ord("\n")
_MAX_UTF8_BYTES_PER_CHAR = 4

# Bytes that make a line non-blank on their own: ASCII that `str.isspace` says is not space.
# Bytes from 0x80 up belong to multi-byte characters, some of them spaces (U+00A0, U+3000, ...).
_ASCII_CONTENT = np.array([i < 0x80 and not chr(i).isspace() for i in range(256)])
_NON_ASCII = np.arange(256) >= 0x80


class LineIndex:
    """A block of complete lines (UTF-8, `\n` after each): where its lines end, and which of
    them are non-blank as `str.strip` sees it. Work grows with the bytes and the runs of
    non-space characters, never with a Python step per line."""

    def __init__(self, block: bytes) -> None:
        self.block = block
        self._bytes = np.frombuffer(block, dtype=np.uint8)

    @cached_property
    def ends(self) -> np.ndarray:
        """Offset of each line's `\n`."""
        return np.flatnonzero(self._bytes == _NEWLINE)

    @property
    def count(self) -> int:
        return len(self.ends)

    @cached_property
    def nonblank(self) -> np.ndarray:
        """Indices of the lines with a character that is not whitespace, in order."""
        lines = self._lines_holding(_ASCII_CONTENT)
        if not self.block.isascii():
            # Lines whose only candidates are multi-byte characters: some of those are spaces
            # (U+00A0, U+3000, ...), so str.strip decides, line by line (rare in practice).
            unsure = np.setdiff1d(self._lines_holding(_NON_ASCII), lines, assume_unique=True)
            sure = [index for index in unsure.tolist() if self.line(index).strip()]
            lines = np.union1d(lines, np.array(sure, dtype=lines.dtype))
        return lines

    def _lines_holding(self, wanted: np.ndarray) -> np.ndarray:
        """Indices of the lines holding a byte that `wanted` (a table of 256) marks."""
        marked = wanted[self._bytes]
        # The first byte of every run of marked bytes is enough to find the lines.
        runs = np.flatnonzero(marked[1:] & ~marked[:-1]) + 1
        if len(marked) and marked[0]:
            runs = np.concatenate(([0], runs))
        lines = np.searchsorted(self.ends, runs)
        if len(lines) > 1:
            lines = lines[np.concatenate(([True], lines[1:] != lines[:-1]))]
        return lines

    def line(self, index: int) -> str:
        start = self.ends[index - 1] + 1 if index else 0
        return self.block[start : self.ends[index]].decode("utf-8")

    def texts(self, indices: np.ndarray) -> list[str]:
        """The lines at `indices` (in order), without their `\n`."""
        if 2 * len(indices) >= self.count:
            # Mostly wanted lines: one decode and split beats a slice and a decode each.
            every = self.block.decode("utf-8").split("\n")
            return [every[index] for index in indices.tolist()]
        ends = self.ends[indices]
        starts = np.where(indices > 0, self.ends[indices - 1] + 1, 0)
        block = self.block
        return [
            block[a:b].decode("utf-8") for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
        ]

    def longest_over(self, max_chars: int) -> bool:
        """Whether a line has more than `max_chars` characters."""
        if len(self.block) <= max_chars:
            return False
        lengths = np.diff(self.ends, prepend=-1) - 1  # in bytes: at least the characters
        for index in np.flatnonzero(lengths > max_chars).tolist():
            if lengths[index] > max_chars * _MAX_UTF8_BYTES_PER_CHAR:
                return True
            if len(self.line(index)) > max_chars:
                return True
        return False


class LineSplitter:
    """`feed(bytes)` and `finish()` return the lines completed so far, without line ends;
    `feed_block` and `finish_block` return them as one indexed block."""

    def __init__(self, max_line_chars: int) -> None:
        self._max_line_chars = max_line_chars
        self._head = b""  # the first bytes, until the encoding is known
        self._decoder: codecs.IncrementalDecoder | None = None
        self._pending_cr = False  # a trailing CR whose LF may arrive in the next piece
        self._carry = ""  # the unfinished last line

    def feed(self, data: bytes) -> list[str]:
        return _lines_of(self.feed_block(data).block)

    def finish(self) -> list[str]:
        return _lines_of(self.finish_block().block)

    def feed_block(self, data: bytes) -> LineIndex:
        if self._decoder is None:
            self._head += data
            if len(self._head) < 4:
                return LineIndex(b"")
            data, self._head = self._start_decoding(self._head), b""
        return self._complete_lines(self._decode(data, final=False), final=False)

    def finish_block(self) -> LineIndex:
        if self._decoder is None:
            tail = self._decode(self._start_decoding(self._head), final=True)
        else:
            tail = self._decode(b"", final=True)
        return self._complete_lines(tail, final=True)

    def _start_decoding(self, head: bytes) -> bytes:
        """Pick the decoder from the byte-order mark (UTF-8 without one); return what follows it."""
        for bom, encoding in _BOMS:
            if head.startswith(bom):
                self._decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
                return head[len(bom) :]
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        return head

    def _decode(self, data: bytes, *, final: bool) -> str:
        assert self._decoder is not None
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError:
            raise errors.UndecodableFile() from None
        if "\x00" in text:
            raise errors.BinaryFile()
        return text

    def _complete_lines(self, text: str, *, final: bool) -> LineIndex:
        if self._pending_cr:
            text, self._pending_cr = "\r" + text, False
        if not final and text.endswith("\r"):
            text, self._pending_cr = text[:-1], True
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = self._carry + text
        if final:
            self._carry = ""
            if text and not text.endswith("\n"):
                text += "\n"
        else:
            cut = text.rfind("\n") + 1
            text, self._carry = text[:cut], text[cut:]
        lines = LineIndex(text.encode("utf-8"))
        if len(self._carry) > self._max_line_chars or lines.longest_over(self._max_line_chars):
            raise errors.LineTooLong(
                f"A line is longer than the limit of {self._max_line_chars} characters."
            )
        return lines


def _lines_of(block: bytes) -> list[str]:
    return block.decode("utf-8").split("\n")[:-1] if block else []
