"""The compiled validator: whole batches of lines answered with numpy table walks.

`describe_lines(lines)` gives, for each raw line, what the reference path gives (normalize_line,
then phonenumbers.parse, format_number(E164), is_valid_number, number_type,
region_code_for_number, carrier name and time zones) — proven equal by the differential tests.
Lines already in `+digits` form go straight to the vectorized steps; others are normalized
first. A candidate the compiled path does not handle (bare national digits read against a
default region, implausibly short or long input) goes through the reference and is counted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata, timezone

from numcheck.numbers import reference
from numcheck.numbers.compiled import internals
from numcheck.numbers.compiled import tables as compiled_tables
from numcheck.numbers.compiled.tables import CARRIER_TYPES, MAX_NSN, PAD, TYPE_NAMES, Tables
from numcheck.numbers.normalize import NotANumber, normalize_line

_WIDTH = 24  # "+" and 23 digits: room for a national prefix before 17 national digits
_COLUMNS = np.arange(_WIDTH)
_PREFIX_DEPTH = 9  # longest carrier and time-zone prefixes (asserted when the tables are built)
_UNSTRIPPABLE = (
    phonenumbers.ValidationResult.TOO_SHORT,
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    phonenumbers.ValidationResult.INVALID_LENGTH,
)
_GEOGRAPHIC_TYPES = (
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)
_MOBILE = phonenumbers.PhoneNumberType.MOBILE
_UNKNOWN = phonenumbers.PhoneNumberType.UNKNOWN


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


@dataclass
class Batch:
    """Columns aligned with the input lines: a failure reason, or the values (reason None)."""

    reasons: list[str | None]
    e164: list[str | None]
    valid: list[bool | None]
    type: list[str | None]
    region: list[str | None]
    carrier: list[str | None]
    timezones: list[str | None]
    fallbacks: int = 0  # lines answered by the reference path

    @classmethod
    def empty(cls, n: int) -> Batch:
        return cls(*([None] * n for _ in range(7)))  # type: ignore[arg-type]

    def columns(self) -> tuple[list, ...]:  # type: ignore[type-arg]
        return (
            self.reasons,
            self.e164,
            self.valid,
            self.type,
            self.region,
            self.carrier,
            self.timezones,
        )

    def put(self, positions: list[int], other: Batch) -> None:
        """Copy `other`'s rows into this batch at `positions`."""
        for target, source in zip(self.columns(), other.columns(), strict=True):
            for position, value in zip(positions, source, strict=True):
                target[position] = value
        self.fallbacks += other.fallbacks


class CompiledValidator:
    def __init__(self, tables: Tables) -> None:
        self.t = tables
        outcomes = tables.outcomes
        self._valid = np.array([valid for valid, _, _ in outcomes], dtype=object)
        self._types = np.array([t for _, t, _ in outcomes], dtype=np.int16)
        self._type_names = np.array([TYPE_NAMES[t] for _, t, _ in outcomes], dtype=object)
        self._regions = np.array([region for _, _, region in outcomes], dtype=object)
        self._carrier_ok = np.array([t in CARRIER_TYPES for _, t, _ in outcomes], dtype=bool)
        self._carrier_names = np.array(tables.carrier_names + [""], dtype=object)  # -1 -> ""
        self._tz_names = np.array(tables.tz_names, dtype=object)
        self._unknown_tz = tables.tz_names.index(timezone.UNKNOWN_TIMEZONE)
        # Dense arrays indexed by the first three digits or by calling code, for the numpy steps.
        self._cc_of_prefix = np.zeros(1000, dtype=np.int64)
        self._cc_length_of_prefix = np.zeros(1000, dtype=np.int64)
        for digits, (cc, length) in tables.cc_prefix.items():
            self._cc_of_prefix[int(digits)] = cc
            self._cc_length_of_prefix[int(digits)] = length
        self._start_of_cc = np.zeros(1000, dtype=np.int64)
        self._country_tz_of_cc = np.zeros(1000, dtype=np.int64)
        self._geo_mobile = np.zeros(1000, dtype=bool)
        self._strip_first = np.zeros((1000, PAD + 1), dtype=bool)
        for cc, state in tables.start.items():
            self._start_of_cc[cc] = state
            self._country_tz_of_cc[cc] = tables.country_tz[cc]
            self._geo_mobile[cc] = cc in tables.geo_mobile_countries
        for cc, first in tables.strip_first_digits.items():
            for digit in first:
                self._strip_first[cc, int(digit)] = True
        self._national_prefix: dict[int, tuple[PhoneMetadata, re.Pattern[str]]] = {}

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> CompiledValidator:
        return cls(compiled_tables.load(cache_dir or default_cache_dir()))

    # -- public ----------------------------------------------------------------------------------

    def describe_lines(
        self, lines: list[str], default_region: str | None = None, *, classify: bool = True
    ) -> Batch:
        """Describe raw lines: normalized first where they are not plain `+digits`.

        With classify=False only `reasons` and `e164` are filled (what registries need).
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
        for j in declined:
            self._reference(normalized, j, candidates[j], default_region)
        batch.put(positions, normalized)
        return batch

    # -- steps -----------------------------------------------------------------------------------

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
        simple = (
            (buffer[starts] == 43)
            & (lengths >= 4)
            & (lengths <= _WIDTH)
            & np.all((digits <= 9) | ~inside, axis=1)  # below "0" wraps around: > 9 too
        )
        prefix = (digits[:, 0].astype(np.int64) * 100 + digits[:, 1] * 10 + digits[:, 2]) * simple
        cc = self._cc_of_prefix[prefix]
        cc_length = self._cc_length_of_prefix[prefix]
        nsn_length = lengths - 1 - cc_length
        reasons = np.full(n, None, dtype=object)
        # "+" and one or two digits: parse() finds no viable number in so little.
        tiny = (buffer[starts] == 43) & (lengths <= 3) & np.all((digits <= 9) | ~inside, axis=1)
        reasons[tiny] = "not_a_number"
        simple_or_tiny = simple | tiny
        reasons[simple & (cc == 0)] = "invalid_country_code"
        reasons[simple & (cc != 0) & (nsn_length < 2)] = "too_short"
        rows = np.flatnonzero(simple & (cc != 0) & (nsn_length >= 2))

        e164_digits = np.where(inside[rows], digits[rows], np.uint8(PAD))
        cc, cc_length, nsn_length = cc[rows], cc_length[rows], nsn_length[rows]
        nsn = buffer[(starts[rows] + 1 + cc_length)[:, None] + _COLUMNS[None, : _WIDTH - 2]]
        nsn -= np.uint8(48)
        nsn[_COLUMNS[None, : _WIDTH - 2] >= nsn_length[:, None]] = PAD

        e164 = [lines[i] for i in rows.tolist()]
        for j in np.flatnonzero(self._strip_first[cc, nsn[:, 0]]).tolist():
            national = e164[j][1 + cc_length[j] :]
            stripped = self._strip_national_prefix(int(cc[j]), national)
            if stripped != national:
                e164[j] = e164[j][: 1 + cc_length[j]] + stripped
                nsn_length[j] = len(stripped)
                nsn[j] = PAD
                nsn[j, : len(stripped)] = _digits_of(stripped)
                e164_digits[j] = PAD
                e164_digits[j, : len(e164[j]) - 1] = _digits_of(e164[j][1:])
        too_long = nsn_length > MAX_NSN
        if too_long.any():
            reasons[rows[too_long]] = "too_long"
            keep = ~too_long
            rows, cc, nsn, nsn_length = rows[keep], cc[keep], nsn[keep], nsn_length[keep]
            e164_digits = e164_digits[keep]
            e164 = [text for text, kept in zip(e164, keep.tolist(), strict=True) if kept]

        if classify:
            values = self._classify(cc, nsn, nsn_length, e164_digits)
        else:
            values = tuple([None] * len(rows) for _ in range(5))
        unusual = np.flatnonzero(~simple_or_tiny).tolist()
        if len(rows) == n:  # the common case: every line parsed
            return Batch(reasons.tolist(), e164, *values), unusual
        batch = Batch.empty(n)
        batch.reasons = reasons.tolist()
        positions = rows.tolist()
        for target, column in zip(batch.columns()[1:], (e164, *values), strict=True):
            for position, value in zip(positions, column, strict=True):
                target[position] = value
        return batch, unusual

    def _classify(
        self, cc: np.ndarray, nsn: np.ndarray, nsn_length: np.ndarray, e164_digits: np.ndarray
    ) -> tuple[list, ...]:  # type: ignore[type-arg]
        """(valid, type, region, carrier, timezones) lists for parsed numbers."""
        if len(cc) == 0:
            return ([], [], [], [], [])
        t = self.t
        state = self._start_of_cc[cc]
        for column in np.asfortranarray(nsn).T[: int(nsn_length.max())]:
            state = t.transitions[state, column]
        outcome = t.outcome_of[state, nsn_length]
        types = self._types[outcome]

        prefixes = np.asfortranarray(e164_digits[:, :_PREFIX_DEPTH])
        carrier = _longest_prefix(t.carrier_trie, t.carrier_value, prefixes)
        carrier = np.where(self._carrier_ok[outcome], carrier, -1)
        # time_zones_for_number: unknown type -> unknown; not geographic -> the country's zones.
        tz = _longest_prefix(t.tz_trie, t.tz_value, prefixes)
        tz = np.where(tz < 0, self._unknown_tz, tz)
        geographic = np.isin(types, _GEOGRAPHIC_TYPES) | ((types == _MOBILE) & self._geo_mobile[cc])
        tz = np.where(geographic, tz, self._country_tz_of_cc[cc])
        tz = np.where(types == _UNKNOWN, self._unknown_tz, tz)
        return (
            self._valid[outcome].tolist(),
            self._type_names[outcome].tolist(),
            self._regions[outcome].tolist(),
            self._carrier_names[carrier].tolist(),
            self._tz_names[tz].tolist(),
        )

    def _strip_national_prefix(self, cc: int, nsn: str) -> str:
        """parse(): strip a national prefix after the country code when what remains is possible.

        Rare (a few numbers in a hundred get here), so it runs phonenumbers' own steps.
        """
        found = self._national_prefix.get(cc)
        if found is None:
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]
            meta = PhoneMetadata.metadata_for_region_or_calling_code(cc, regions[0])
            found = self._national_prefix[cc] = (meta, re.compile(meta.national_prefix_for_parsing))
        meta, prefix = found
        if not prefix.match(nsn):
            return nsn
        _, potential, _ = internals.strip_national_prefix_carrier_code(nsn, meta)
        if internals.validate_length(potential, meta) in _UNSTRIPPABLE:
            return nsn
        return potential

    @staticmethod
    def _reference(batch: Batch, i: int, candidate: str, default_region: str | None) -> None:
        batch.fallbacks += 1
        try:
            d = reference.describe(reference.parse(candidate, default_region))
        except NotANumber as exc:
            batch.reasons[i] = exc.reason
            return
        batch.reasons[i] = None
        batch.e164[i], batch.valid[i], batch.type[i] = d.e164, d.valid, d.type
        batch.region[i], batch.carrier[i], batch.timezones[i] = d.region, d.carrier, d.timezones


def _digits_of(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8) - np.uint8(48)


def _longest_prefix(trie: np.ndarray, values: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """The value of the longest prefix present in the trie, or -1, for each row of digits."""
    node = np.ones(len(digits), dtype=np.int64)
    best = np.full(len(digits), -1, dtype=np.int64)
    for column in digits.T:
        node = trie[node, column]
        found = values[node]
        best = np.where(found >= 0, found, best)
    return best
