"""Bytes of an uploaded text file in, complete lines out: decoding and line ends, streamed.

UTF-8 (with or without BOM) and UTF-16 with BOM; LF, CRLF and CR. Used for task uploads and
registry files alike, so both read a file the same way.
"""

from __future__ import annotations

import codecs

from numcheck import errors

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class LineSplitter:
    """`feed(bytes)` and `finish()` return the lines completed so far, without line ends."""

    def __init__(self, max_line_chars: int) -> None:
        self._max_line_chars = max_line_chars
        self._head = b""  # the first bytes, until the encoding is known
        self._decoder: codecs.IncrementalDecoder | None = None
        self._pending_cr = False  # a trailing CR whose LF may arrive in the next piece
        self._carry = ""  # the unfinished last line

    def feed(self, data: bytes) -> list[str]:
        if self._decoder is None:
            self._head += data
            if len(self._head) < 4:
                return []
            data, self._head = self._start_decoding(self._head), b""
        return self._lines(self._decode(data, final=False), final=False)

    def finish(self) -> list[str]:
        if self._decoder is None:
            tail = self._decode(self._start_decoding(self._head), final=True)
        else:
            tail = self._decode(b"", final=True)
        return self._lines(tail, final=True)

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

    def _lines(self, text: str, *, final: bool) -> list[str]:
        if self._pending_cr:
            text, self._pending_cr = "\r" + text, False
        if not final and text.endswith("\r"):
            text, self._pending_cr = text[:-1], True
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = (self._carry + text).split("\n")
        self._carry = lines.pop()
        if final and self._carry:
            lines.append(self._carry)
            self._carry = ""
        if len(self._carry) > self._max_line_chars or (
            lines and max(map(len, lines)) > self._max_line_chars
        ):
            raise errors.LineTooLong(
                f"A line is longer than the limit of {self._max_line_chars} characters."
            )
        return lines
