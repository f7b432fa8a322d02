"""Delimited files (CSV, TSV, semicolon and pipe exports), for tasks and registry loads alike:
find the delimiter, pick the numbers' column (named, or the first that looks like phone numbers)
and an optional id column, and turn each record into a canonical line `number` or
`number<TAB>id`.

Which files are read this way: any file when `column`, `id_column` or `delimiter` is sent, a
file called *.csv or *.tsv (also gzip-compressed), and any other file whose first rows all split
into the same number (two or more) of fields on one of comma, semicolon, tab and pipe. A file
that is none of these is a plain list, one number a line, passed through untouched.

The delimiter, when not named, is the candidate that splits the sampled rows most consistently
(`.tsv` means tab). A delimited file has a header row when `column` or `id_column` is named, or
when its first non-blank record does not read as a phone number under the default region (none
of its fields is one): `phone,name` is a header, `+4915112345678,alice` is data. Guessing
"header" for a plain list of numbers would drop its first number without a word.

Records follow RFC 4180: a quoted field may hold delimiters, doubled quotes and line breaks.
One canonical line per physical line, so line numbers still match the caller's file: a record's
canonical line stands on the line where it starts, and the lines it continues on, the header
and blank lines become blank lines. Only non-blank lines cost Python work (and only lines with a
quote are scanned character by character): runs of blank lines pass through as counts.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

import numpy as np

from numcheck import errors, numbers
from numcheck.textlines import LineIndex

SAMPLE_ROWS = 20
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "|": "|"}
DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}
# Rows wait here until the delimiter and the column are chosen; a file of few rows and many
# blank lines must not make them wait (and hold memory) for long.
_MAX_HELD_BYTES = 1 << 20
_MAX_RECORD_CHARS = 1 << 16  # a quoted field that never closes must not take the whole file
_MIN_NUMBER_CHARS = 8


def delimiter_named(value: str | None) -> str | None:
    """The `delimiter` field as sent (`,` `;` `|` a tab, or comma, semicolon, tab, pipe)."""
    if value is None or value == "":
        return None
    found = DELIMITERS.get(value) or DELIMITER_NAMES.get(value.strip().lower())
    if found is None:
        raise errors.InvalidRequest(
            "delimiter must be one of ',', ';', '|', a tab, or comma, semicolon, tab, pipe."
        )
    return found


def _fields(record: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([record], delimiter=delimiter, strict=False))
    except (csv.Error, StopIteration):
        return []


def _ends_inside_quotes(line: str, delimiter: str, inside: bool) -> bool:
    """Whether a record is still inside a quoted field after `line` (as csv's default dialect
    reads it: a quote opens a field only at its start, `""` inside one is a quote)."""
    at_field_start = not inside
    position, length = 0, len(line)
    while position < length:
        char = line[position]
        if inside:
            if char == '"':
                if position + 1 < length and line[position + 1] == '"':
                    position += 1  # a doubled quote: a quote inside the field
                else:
                    inside = False
        elif char == '"' and at_field_start:
            inside = True
        at_field_start = not inside and char == delimiter
        position += 1
    return inside


def _records(lines: Iterable[str], delimiter: str) -> Iterator[list[str]]:
    """Group physical lines into records (each a list of its lines); the last may be open."""
    record: list[str] = []
    inside = False
    for line in lines:
        record.append(line)
        if '"' in line or inside:
            inside = _ends_inside_quotes(line, delimiter, inside)
        if not inside:
            yield record
            record = []
    if record:
        yield record


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


def _field_counts(records: list[str], delimiter: str) -> list[int]:
    return [len(_fields(record, delimiter)) for record in records]


def sniff_delimiter(records: list[str], *, strict: bool) -> str | None:
    """The delimiter that splits the sampled records most consistently into two or more fields.

    `strict` (a file not known to be delimited): every record must split into the same number
    of fields, else None (a plain list). Otherwise the candidate with the most records at its
    most common field count wins, comma when none splits anything.
    """
    best: tuple[int, int, str] | None = None
    for delimiter in DELIMITERS:
        counts = [count for count in _field_counts(records, delimiter) if count]
        if not counts:
            continue
        common = max(set(counts), key=counts.count)
        if common < 2:
            continue
        agreeing = counts.count(common)
        if strict and agreeing != len(counts):
            continue
        if best is None or (agreeing, common) > best[:2]:
            best = (agreeing, common, delimiter)
    if best is None:
        return None if strict else ","
    return best[2]


class CsvToCanonical:
    """`take(lines)` and `finish()` turn indexed blocks of delimited rows into canonical lines,
    as many lines out as went in (rows may come out later: they wait until the delimiter and
    the column are chosen, and a record's lines until its quotes close).

    `sniff_only`: the file is not known to be delimited; when its first rows do not all split
    on one delimiter it is a plain list and passes through unchanged.
    """

    def __init__(
        self,
        column: str | None,
        id_column: str | None,
        default_region: str | None = None,
        delimiter: str | None = None,
        *,
        sniff_only: bool = False,
    ) -> None:
        self.default_region = default_region
        self.delimiter = delimiter
        self.plain = False  # decided: not delimited, lines pass through
        self._column = column
        self._id_column = id_column
        self._sniff_only = sniff_only
        self._decided = False
        self._header_pending = False  # the next record is the header: it becomes blank lines
        self._header: list[str] | None = None
        self._index: int | None = None
        self._id_index: int | None = None
        self._held: list[LineIndex] = []  # blocks read before the choices could be made
        self._held_bytes = 0
        self._held_rows = 0
        self._open_record: list[str] = []  # lines of a record whose quoted field is still open

    def take(self, lines: LineIndex) -> bytes:
        return self.take_lines(lines).block

    def take_lines(self, lines: LineIndex) -> LineIndex:
        if self._decided:
            return lines if self.plain else LineIndex(self._convert(lines))
        if not self._held and not len(lines.nonblank):
            return LineIndex(b"\n" * lines.count)  # nothing waits before these blank lines
        self._held.append(lines)
        self._held_bytes += len(lines.block)
        self._held_rows += len(lines.nonblank)
        if self._held_rows > SAMPLE_ROWS or self._held_bytes >= _MAX_HELD_BYTES:
            return LineIndex(self._release())
        return LineIndex(b"")

    def finish(self) -> bytes:
        out = self._release() if self._held else b""
        if self._open_record:  # an unclosed quote at the end: the record ends with the file
            out += self._record_lines(self._open_record).encode("utf-8")
            self._open_record = []
        return out

    def _release(self) -> bytes:
        held, self._held = self._held, []
        self._decide(held)
        if self.plain:
            return b"".join(lines.block for lines in held)
        return b"".join(self._convert(lines) for lines in held)

    def _decide(self, held: list[LineIndex]) -> None:
        self._decided = True
        physical = [text for lines in held for text in lines.texts(lines.nonblank)]
        sample_delimiter = self.delimiter or ","
        sample = ["\n".join(r) for r in _records(physical, sample_delimiter)][: SAMPLE_ROWS + 1]
        if self.delimiter is None:
            self.delimiter = sniff_delimiter(sample, strict=self._sniff_only)
            if self.delimiter is None:
                self.plain = True
                return
            if self.delimiter != sample_delimiter:
                sample = ["\n".join(r) for r in _records(physical, self.delimiter)]
                sample = sample[: SAMPLE_ROWS + 1]
        rows = [_fields(record, self.delimiter) for record in sample]
        if rows and self._has_header(rows[0]):
            self._read_header(rows[0])
            self._header_pending = True
            rows = rows[1:]
        if self._index is None and rows:
            self._index = self._choose(rows)

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
            shown = "" if self.delimiter is None else self.delimiter.replace("\t", "\\t")
            raise errors.InvalidRequest(
                f"Column {name[:100]!r} is not in the header row (read with the delimiter "
                f"{shown!r}); it has: {', '.join(h[:40] for h in self._header[:30])}."
            )
        return self._header.index(name)

    def _choose(self, rows: list[list[str]]) -> int:
        """The first column whose sampled values look like phone numbers."""
        width = len(self._header) if self._header is not None else max(map(len, rows))
        for index in range(width):
            values = [row[index] if index < len(row) else "" for row in rows]
            if _looks_like_numbers(values, self.default_region):
                return index
        raise errors.InvalidRequest(
            "No column of this file looks like phone numbers; name it with `column` (and "
            "send `default_region` when the numbers are written without their country code)."
        )

    def _convert(self, lines: LineIndex) -> bytes:
        """Canonical lines for a block: a record each, blank lines as they were."""
        if not self._open_record and not self._header_pending and b'"' not in lines.block:
            return self._convert_simple(lines)
        parts: list[str] = []
        previous = -1  # the last line of the block taken so far
        for index, line in zip(lines.nonblank.tolist(), lines.texts(lines.nonblank), strict=True):
            if self._open_record:  # blank lines inside a quoted field are part of it
                self._open_record += [lines.line(k) for k in range(previous + 1, index)]
                self._open_record.append(line)
            else:
                parts.append("\n" * (index - previous - 1))
                self._open_record = [line]
            previous = index
            if not self._still_open(line):
                parts.append(self._record_lines(self._open_record))
                self._open_record = []
        rest = range(previous + 1, lines.count)
        if self._open_record:
            self._open_record += [lines.line(k) for k in rest]
        else:
            parts.append("\n" * len(rest))
        return "".join(parts).encode("utf-8")

    def _record_lines(self, record: list[str]) -> str:
        """A record's canonical line, and a blank line for each further line it ran over."""
        assert self.delimiter is not None
        if self._header_pending:
            self._header_pending = False
            line = ""
        else:
            line = self._canonical(_fields("\n".join(record), self.delimiter))
        return line + "\n" * len(record)

    def _still_open(self, line: str) -> bool:
        record = self._open_record
        if len(record) == 1 and '"' not in line:
            return False
        assert self.delimiter is not None
        inside = _ends_inside_quotes(line, self.delimiter, len(record) > 1)
        if inside and sum(map(len, record)) > _MAX_RECORD_CHARS:
            raise errors.LineTooLong(
                f"A quoted field runs on for more than {_MAX_RECORD_CHARS} characters: "
                "is a closing quote missing?"
            )
        return inside

    def _convert_simple(self, lines: LineIndex) -> bytes:
        """The common block: no quotes, so every non-blank line is a record of its own."""
        assert self.delimiter is not None
        rows = lines.nonblank
        delimiter = self.delimiter
        canonical = [self._canonical(_fields(text, delimiter)) for text in lines.texts(rows)]
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
        number = _one_line(row[index]) if index is not None and index < len(row) else ""
        if id_index is None:
            return number
        identifier = _one_line(row[id_index]) if id_index < len(row) else ""
        return f"{number}\t{identifier}" if number or identifier else ""


def _one_line(value: str) -> str:
    """A field as one canonical line: tabs and line breaks would split it."""
    if "\t" in value or "\n" in value:
        value = " ".join(value.replace("\t", " ").split("\n"))
    return value.strip()


def for_file(
    filename: str,
    *,
    column: str | None,
    id_column: str | None,
    default_region: str | None,
    delimiter: str | None = None,
) -> CsvToCanonical:
    """How to read an upload, read under `default_region` (an unsupported one reads as none:
    it is refused where it is checked): delimited when a column or a delimiter is named or the
    name says so, else delimited only when its first rows are."""
    column, id_column = column or None, id_column or None
    name = filename.lower().removesuffix(".gz")
    if delimiter is None and name.endswith(".tsv"):
        delimiter = "\t"
    known = bool(column or id_column or delimiter) or name.endswith((".csv", ".tsv"))
    region = _supported_region(default_region)
    return CsvToCanonical(column, id_column, region, delimiter, sniff_only=not known)


def _supported_region(value: str | None) -> str | None:
    region = (value or "").strip().upper() or None
    return region if region is not None and numbers.is_supported_region(region) else None
