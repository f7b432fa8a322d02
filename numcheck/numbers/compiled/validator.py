"""The compiled validator: whole batches of lines answered with numpy table walks.

`describe_lines(lines)` gives, for each raw line, what the reference path gives (normalize_line,
then phonenumbers.parse, format_number(E164, NATIONAL, INTERNATIONAL), is_valid_number,
number_type, region_code_for_number, carrier name, time zones, the geocoder's country name and
description, is_possible_number_with_reason) — proven equal by the differential tests. Lines
already in `+digits` form are parsed by the vectorized steps; others are normalized first. A
candidate the compiled parse does not handle (bare national digits read against a default
region, implausibly long input) is parsed by phonenumbers and counted as a fallback; its
description is compiled like every other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import phonenumbers

from numcheck.numbers import reference
from numcheck.numbers.compiled import describe
from numcheck.numbers.compiled import tables as compiled_tables
from numcheck.numbers.compiled.describe import Describer
from numcheck.numbers.compiled.parsed import (
    NSN_WIDTH,
    PREFIX_DEPTH,
    NationalPrefixes,
    Parsed,
    digits_of,
)
from numcheck.numbers.compiled.tables import MAX_NSN, PAD, Tables
from numcheck.numbers.normalize import NotANumber, normalize_line

_WIDTH = 24  # "+" and 23 digits: room for a national prefix before 17 national digits
_COLUMNS = np.arange(_WIDTH)
assert NSN_WIDTH == _WIDTH - 2


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "numcheck"


_shared: CompiledValidator | None = None


def prepare(cache_dir: Path | None) -> CompiledValidator:
    """Load this process's validator from `cache_dir`, building and caching it when missing."""
    global _shared
    _shared = CompiledValidator.load(cache_dir)
    return _shared


def shared() -> CompiledValidator:
    """This process's validator (prepared from the default cache dir if nobody prepared it)."""
    return _shared or prepare(None)


# The values `describe_lines` gives a parsed number, in the order of a `validate` row.
VALUE_COLUMNS = ("e164", *describe.COLUMNS)


@dataclass
class Batch:
    """A batch's answers: per line a failure reason or None; per parsed line its values.

    `values` are columns of the parsed lines only, row k being the line at `positions[k]`
    (with classify=False only "e164"): rows are zipped straight from them, and a value column
    aligned with the lines is built only when asked for (`column`).
    """

    reasons: list[str | None]
    positions: list[int] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=dict)
    fallbacks: int = 0  # lines (or steps of a line) answered by phonenumbers itself

    @property
    def e164(self) -> list[str | None]:
        return self.column("e164")

    def column(self, name: str) -> list[Any]:
        """A value column aligned with the lines (None where a line failed)."""
        aligned = [None] * len(self.reasons)
        for position, value in zip(self.positions, self.values[name], strict=True):
            aligned[position] = value
        return aligned

    def add(self, positions: list[int], values: dict[str, list[Any]]) -> None:
        """Append the values of parsed lines at `positions`."""
        self.positions += positions
        for name, column in values.items():
            self.values.setdefault(name, []).extend(column)

    def put(self, positions: list[int], other: Batch) -> None:
        """Merge `other`, a batch of the lines at `positions` of this one."""
        for position, reason in zip(positions, other.reasons, strict=True):
            self.reasons[position] = reason
        self.add([positions[k] for k in other.positions], other.values)
        self.fallbacks += other.fallbacks


class CompiledValidator:
    def __init__(self, tables: Tables, cache_dir: Path) -> None:
        self.t = tables
        # Dense arrays indexed by the first three digits or by calling code, for the numpy steps.
        self._cc_of_prefix = np.zeros(1000, dtype=np.int64)
        self._cc_length_of_prefix = np.zeros(1000, dtype=np.int64)
        for digits, (cc, length) in tables.cc_prefix.items():
            self._cc_of_prefix[int(digits)] = cc
            self._cc_length_of_prefix[int(digits)] = length
        self._strip_first = np.zeros((1000, PAD + 1), dtype=bool)
        for cc, first in tables.strip_first_digits.items():
            for digit in first:
                self._strip_first[cc, int(digit)] = True
        self._national_prefixes = NationalPrefixes()
        self._describer = Describer(tables, cache_dir, self._national_prefixes)

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> CompiledValidator:
        cache_dir = cache_dir or default_cache_dir()
        return cls(compiled_tables.load(cache_dir), cache_dir)

    # -- public ----------------------------------------------------------------------------------

    def describe_lines(
        self, lines: list[str], default_region: str | None = None, *, classify: bool = True
    ) -> Batch:
        """Describe raw lines: normalized first where they are not plain `+digits`.

        With classify=False only `reasons` and `e164` are filled (what registries need): no
        format, no geocoding, no table walk beyond the parse.
        """
        batch, unusual = self._describe(lines, classify)
        if not unusual:
            return batch
        candidates: list[str] = []
        positions: list[int] = []
        for i in unusual:
            try:
                candidates.append(normalize_line(lines[i], default_region))
                positions.append(i)
            except NotANumber as exc:
                batch.reasons[i] = exc.reason
        normalized, declined = self._describe(candidates, classify)
        if declined:
            self._parse_by_reference(normalized, declined, candidates, default_region, classify)
        batch.put(positions, normalized)
        return batch

    # -- parsing ---------------------------------------------------------------------------------

    def _describe(self, lines: list[str], classify: bool = True) -> tuple[Batch, list[int]]:
        """The vectorized path for `+digits` lines; returns the batch and the other lines' indexes.

        These are phonenumbers.parse's steps for "+digits": country code by shortest known
        prefix, at least two national digits, national prefix stripped when what remains is
        still possible, at most 17 national digits.
        """
        n = len(lines)
        lengths = np.fromiter(map(len, lines), dtype=np.int64, count=n)
        text = "".join(lines).encode()
        if len(text) != int(lengths.sum()):  # non-ASCII lines are never "+digits"
            text = "".join(line if line.isascii() else "?" * len(line) for line in lines).encode()
        buffer = np.frombuffer(text + b"\0" * (_WIDTH + 3), dtype=np.uint8)
        starts = np.cumsum(lengths) - lengths

        digits = buffer[(starts + 1)[:, None] + _COLUMNS[None, : _WIDTH - 1]] - np.uint8(48)
        inside = _COLUMNS[None, : _WIDTH - 1] < (lengths - 1)[:, None]
        all_digits = np.all((digits <= 9) | ~inside, axis=1)  # below "0" wraps around: > 9 too
        plus = buffer[starts] == 43
        simple = plus & (lengths >= 4) & (lengths <= _WIDTH) & all_digits
        prefix = (digits[:, 0].astype(np.int64) * 100 + digits[:, 1] * 10 + digits[:, 2]) * simple
        cc = self._cc_of_prefix[prefix]
        cc_length = self._cc_length_of_prefix[prefix]
        nsn_length = lengths - 1 - cc_length
        reasons = np.full(n, None, dtype=object)
        # "+" and one or two digits: parse() finds no viable number in so little.
        tiny = plus & (lengths <= 3) & all_digits
        reasons[tiny] = "not_a_number"
        reasons[simple & (cc == 0)] = "invalid_country_code"
        reasons[simple & (cc != 0) & (nsn_length < 2)] = "too_short"
        rows = np.flatnonzero(simple & (cc != 0) & (nsn_length >= 2))

        cc, cc_length, nsn_length = cc[rows], cc_length[rows], nsn_length[rows]
        nsn = buffer[(starts[rows] + 1 + cc_length)[:, None] + _COLUMNS[None, :NSN_WIDTH]]
        nsn -= np.uint8(48)
        nsn[_COLUMNS[None, :NSN_WIDTH] >= nsn_length[:, None]] = PAD

        depth = _COLUMNS[None, :PREFIX_DEPTH]
        prefixes = np.where(depth < (lengths[rows] - 1)[:, None], digits[rows, :PREFIX_DEPTH], PAD)
        prefixes = prefixes.astype(np.uint8)
        e164 = [lines[i] for i in rows.tolist()]
        for j in np.flatnonzero(self._strip_first[cc, nsn[:, 0]]).tolist():
            national = e164[j][1 + cc_length[j] :]
            stripped = self._national_prefixes.strip(int(cc[j]), national)
            if stripped != national:
                e164[j] = e164[j][: 1 + cc_length[j]] + stripped
                nsn_length[j] = len(stripped)
                nsn[j] = PAD
                nsn[j, : len(stripped)] = digits_of(stripped)
                prefixes[j] = PAD
                leading = e164[j][1 : 1 + PREFIX_DEPTH]
                prefixes[j, : len(leading)] = digits_of(leading)
        too_long = nsn_length > MAX_NSN
        if too_long.any():
            reasons[rows[too_long]] = "too_long"
            keep = ~too_long
            rows, cc, nsn, nsn_length = rows[keep], cc[keep], nsn[keep], nsn_length[keep]
            prefixes = prefixes[keep]
            e164 = [text for text, kept in zip(e164, keep.tolist(), strict=True) if kept]

        batch = Batch(reasons.tolist())
        parsed = Parsed(cc, nsn, nsn_length, e164, prefixes)
        batch.add(rows.tolist(), self._values(parsed, batch, classify))
        return batch, np.flatnonzero(~(simple | tiny)).tolist()

    def _parse_by_reference(
        self,
        batch: Batch,
        declined: list[int],
        candidates: list[str],
        default_region: str | None,
        classify: bool,
    ) -> None:
        """phonenumbers.parse for what the vectorized parse declines; described like the rest."""
        positions: list[int] = []
        numbers: list[tuple[int, str]] = []
        for i in declined:
            batch.fallbacks += 1
            try:
                number = reference.parse(candidates[i], default_region)
            except NotANumber as exc:
                batch.reasons[i] = exc.reason
                continue
            batch.reasons[i] = None
            positions.append(i)
            assert number.country_code is not None  # parse() always sets it
            numbers.append((number.country_code, phonenumbers.national_significant_number(number)))
        if numbers:
            parsed = Parsed.of(numbers)
            batch.add(positions, self._values(parsed, batch, classify))

    def _values(self, parsed: Parsed, batch: Batch, classify: bool) -> dict[str, list[Any]]:
        values: dict[str, list[Any]] = {"e164": parsed.e164}
        if classify:
            before = self._describer.fallbacks
            values.update(self._describer.columns(parsed))
            batch.fallbacks += self._describer.fallbacks - before
        return values

    # -- describing parsed numbers ---------------------------------------------------------------
