"""CSV files, for tasks and registry loads alike: pick the numbers' column (named, or the first
that looks like phone numbers) and an optional id column, and turn each row into a canonical
line `number` or `number<TAB>id`.

A CSV file has a header row when `column` or `id_column` is named, or when its first non-blank
row does not read as a phone number under the task's default region (none of its fields is one):
`phone,name` is a header, `+4915112345678,alice` is data. Guessing "header" for a plain list of
numbers would drop its first number without a word.

One canonical line per physical line, so line numbers still match the caller's file (the header
and blank lines become blank lines). Only non-blank rows cost Python work: runs of blank lines
pass through as counts. A quoted field spanning lines is not supported: each line is one row.
"""

from __future__ import annotations

import csv

import numpy as np

from numcheck import errors, numbers
from numcheck.textlines import LineIndex

SAMPLE_ROWS = 20
# Rows wait here until the column is chosen; a file of few rows and many blank lines must not
# make them wait (and hold memory) for long.
_MAX_HELD_BYTES = 1 << 20
_MIN_NUMBER_CHARS = 8


def _row(line: str) -> list[str]:
    try:
        return next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return []


def _reads_as_number(value: str, default_region: str | None) -> bool:
    try:
        numbers.normalize_line(value, default_region)
    except numbers.NotANumber:
        return False
    return True


def _looks_like_numbers(values: list[str], default_region: str | None) -> bool:
    present = [v for v in values if v.strip()]
    if not present:
        return False
    good = 0
    for value in present:
        try:
            candidate = numbers.normalize_line(value, default_region)
        except numbers.NotANumber:
            continue
        good += len(candidate) >= _MIN_NUMBER_CHARS
    return good * 2 >= len(present)


class CsvToCanonical:
    """`take(lines)` and `finish()` turn indexed blocks of CSV rows into canonical lines, as many
    lines out as went in (rows may come out later: they wait until the column is chosen)."""

    def __init__(
        self, column: str | None, id_column: str | None, default_region: str | None = None
    ) -> None:
        self.default_region = default_region
        self._column = column
        self._id_column = id_column
        self._first_row_seen = False
        self._header: list[str] | None = None
        self._index: int | None = None
        self._id_index: int | None = None
        self._held: list[LineIndex] = []  # blocks read before the column could be chosen
        self._held_bytes = 0
        self._sample: list[list[str]] = []

    def take(self, lines: LineIndex) -> bytes:
        head = b""
        if not self._first_row_seen:
            if not len(lines.nonblank):
                return b"\n" * lines.count
            self._first_row_seen = True
            first = int(lines.nonblank[0])
            row = _row(lines.line(first))
            if self._has_header(row):
                self._read_header(row)
                head = b"\n" * (first + 1)  # blank lines and the header stay blank lines
                lines = LineIndex(lines.block[int(lines.ends[first]) + 1 :])
        if self._index is not None:
            return head + self._convert(lines)
        return head + self._hold(lines)

    def finish(self) -> bytes:
        return self._release() if self._held else b""

    def _has_header(self, first_row: list[str]) -> bool:
        if self._column is not None or self._id_column is not None:
            return True  # a named column needs names to find it by
        return not any(_reads_as_number(value, self.default_region) for value in first_row)

    def _read_header(self, row: list[str]) -> None:
        self._header = [name.strip() for name in row]
        if self._column is not None:
            self._index = self._position(self._column)
        if self._id_column is not None:
            self._id_index = self._position(self._id_column)

    def _position(self, name: str) -> int:
        assert self._header is not None
        if name not in self._header:
            raise errors.InvalidRequest(
                f"Column {name[:100]!r} is not in the header row; it has: "
                f"{', '.join(h[:40] for h in self._header[:30])}."
            )
        return self._header.index(name)

    def _hold(self, lines: LineIndex) -> bytes:
        rows = lines.nonblank
        if not self._held and not len(rows):
            return b"\n" * lines.count  # nothing waits before these blank lines
        self._held.append(lines)
        self._held_bytes += len(lines.block)
        self._sample += map(_row, lines.texts(rows[: SAMPLE_ROWS - len(self._sample)]))
        if len(self._sample) >= SAMPLE_ROWS or self._held_bytes >= _MAX_HELD_BYTES:
            return self._release()
        return b""

    def _release(self) -> bytes:
        self._index = self._choose()
        held, self._held, self._sample = self._held, [], []
        return b"".join(self._convert(lines) for lines in held)

    def _choose(self) -> int:
        """The first column whose sampled values look like phone numbers."""
        width = len(self._header) if self._header is not None else max(map(len, self._sample))
        for index in range(width):
            values = [row[index] if index < len(row) else "" for row in self._sample]
            if _looks_like_numbers(values, self.default_region):
                return index
        raise errors.InvalidRequest(
            "No column of this CSV file looks like phone numbers; name it with `column`."
        )

    def _convert(self, lines: LineIndex) -> bytes:
        """Canonical lines for a block: a non-blank row each, blank runs as they were."""
        rows = lines.nonblank
        canonical = [self._canonical(_row(text)) for text in lines.texts(rows)]
        blank_after = lines.count - (int(rows[-1]) + 1 if len(rows) else 0)
        blank_before = np.diff(rows, prepend=-1) - 1
        if blank_before.any():  # each row after the blank lines before it
            pairs = zip(blank_before.tolist(), canonical, strict=True)
            text = "".join(["\n" * blank + line + "\n" for blank, line in pairs])
        else:
            text = "".join([line + "\n" for line in canonical])
        return (text + "\n" * blank_after).encode("utf-8")

    def _canonical(self, row: list[str]) -> str:
        index, id_index = self._index, self._id_index
        number = (
            row[index].replace("\t", " ").strip() if index is not None and index < len(row) else ""
        )
        if id_index is None:
            return number
        identifier = row[id_index].replace("\t", " ").strip() if id_index < len(row) else ""
        return f"{number}\t{identifier}" if number or identifier else ""


def for_file(
    filename: str, *, column: str | None, id_column: str | None, default_region: str | None
) -> CsvToCanonical | None:
    """CSV handling when a column is named or the file is called *.csv (or *.csv.gz), read under
    `default_region` (an unsupported one reads as none: it is refused where it is checked)."""
    column, id_column = column or None, id_column or None
    if column or id_column or filename.lower().endswith((".csv", ".csv.gz")):
        return CsvToCanonical(column, id_column, _supported_region(default_region))
    return None


def _supported_region(value: str | None) -> str | None:
    region = (value or "").strip().upper() or None
    return region if region is not None and numbers.is_supported_region(region) else None
