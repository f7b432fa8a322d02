"""CSV uploads: pick the numbers' column (named, or the first that looks like phone numbers) and
an optional id column, and turn each row into a canonical line `number` or `number<TAB>id`.

One canonical line per physical line, so line numbers still match the caller's file (the header
becomes a blank line). A quoted field spanning lines is not supported: each line is one row.
"""

from __future__ import annotations

import csv

from numcheck import errors, numbers

SAMPLE_ROWS = 20


def _row(line: str) -> list[str]:
    try:
        return next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return []


def _looks_like_numbers(values: list[str]) -> bool:
    present = [v for v in values if v.strip()]
    if not present:
        return False
    good = 0
    for value in present:
        try:
            candidate = numbers.normalize_line(value, None)
        except numbers.NotANumber:
            continue
        good += len(candidate) >= 8
    return good * 2 >= len(present)


class CsvToCanonical:
    def __init__(self, column: str | None, id_column: str | None) -> None:
        self._column = column
        self._id_column = id_column
        self._header: list[str] | None = None
        self._index: int | None = None
        self._id_index: int | None = None
        self._held: list[str] = []  # rows read before the column could be chosen

    def take(self, lines: list[str]) -> list[str]:
        ready: list[str] = []
        for line in lines:
            if self._header is None:
                if line.strip():
                    self._start(line)
                ready.append("")
            elif self._index is None:
                self._held.append(line)
                if len(self._held) >= SAMPLE_ROWS:
                    ready += self._choose()
            else:
                ready.append(self._convert(line))
        return ready

    def finish(self) -> list[str]:
        return self._choose() if self._header is not None and self._index is None else []

    def _start(self, header_line: str) -> None:
        self._header = [name.strip() for name in _row(header_line)]
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

    def _choose(self) -> list[str]:
        """The first column whose sampled values look like phone numbers."""
        assert self._header is not None
        rows = [_row(line) for line in self._held if line.strip()]
        for index in range(len(self._header)):
            if _looks_like_numbers([row[index] if index < len(row) else "" for row in rows]):
                self._index = index
                break
        else:
            raise errors.InvalidRequest(
                "No column of this CSV file looks like phone numbers; name it with `column`."
            )
        held, self._held = self._held, []
        return [self._convert(line) for line in held]

    def _convert(self, line: str) -> str:
        if not line.strip():
            return ""
        row = _row(line)
        number = row[self._index] if self._index is not None and self._index < len(row) else ""
        number = number.replace("\t", " ").strip()
        if self._id_index is None:
            return number
        identifier = row[self._id_index] if self._id_index < len(row) else ""
        identifier = identifier.replace("\t", " ").strip()
        return f"{number}\t{identifier}" if number or identifier else ""
