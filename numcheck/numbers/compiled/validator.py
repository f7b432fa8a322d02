"""The compiled validator: whole batches of numbers answered with numpy table walks.

`describe_batch(candidates)` gives, for each normalized candidate, what the reference path
(`numbers.reference`: phonenumbers.parse, format_number(E164), is_valid_number, number_type,
region_code_for_number, carrier and time zones) gives — proven equal by the differential tests.
A candidate the compiled path does not handle (bare national digits read against a default
region, implausibly short or long input) goes through the reference path and is counted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers import phonenumberutil as pnu

from numcheck.numbers import reference
from numcheck.numbers.compiled import tables as compiled_tables
from numcheck.numbers.compiled.tables import CARRIER_TYPES, MAX_NSN, PAD, TYPE_NAMES, Tables
from numcheck.numbers.normalize import NotANumber

_MAX_INPUT = pnu._MAX_INPUT_STRING_LENGTH  # parse() refuses longer strings as too long
_UNSTRIPPABLE = (
    pnu.ValidationResult.TOO_SHORT,
    pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    pnu.ValidationResult.INVALID_LENGTH,
)
_WIDTH = 21  # "+", up to 3 digits of calling code and 17 of national number
_COLUMNS = np.arange(_WIDTH)
_PREFIX_DEPTH = 9  # longest carrier and time-zone prefixes (asserted when the tables are built)
_GEOGRAPHIC_TYPES = (
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "numcheck"


@dataclass
class Batch:
    """Columns for a batch, aligned with its input: a failure reason or the row values."""

    reasons: list[str | None]  # None where the number parsed
    e164: list[str | None]
    valid: list[bool | None]
    type: list[str | None]
    region: list[str | None]
    carrier: list[str | None]
    timezones: list[str | None]
    fallbacks: int  # candidates answered by the reference path


class CompiledValidator:
    def __init__(self, tables: Tables) -> None:
        self.t = tables
        self._type_names = np.array(
            [TYPE_NAMES[number_type] for _, number_type, _ in tables.outcomes], dtype=object
        )
        self._valid = np.array([valid for valid, _, _ in tables.outcomes], dtype=bool)
        self._regions = np.array([region for _, _, region in tables.outcomes], dtype=object)
        self._carrier_ok = np.array([t in CARRIER_TYPES for _, t, _ in tables.outcomes], dtype=bool)
        self._carrier_names = np.array(tables.carrier_names + [""], dtype=object)  # -1 -> ""
        self._tz_names = np.array(tables.tz_names, dtype=object)
        self._unknown_tz = tables.tz_names.index(";".join(pnu_unknown_time_zones()))
        self._types = np.array([t for _, t, _ in tables.outcomes], dtype=np.int16)
        self._metadata: dict[int, PhoneMetadata] = {}
        self._national_prefix: dict[int, re.Pattern[str]] = {}
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

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> CompiledValidator:
        return cls(compiled_tables.load(cache_dir or default_cache_dir()))

    # -- the per-number prelude: parse()'s steps for "+digits" ---------------------------------

    def _main_metadata(self, cc: int) -> PhoneMetadata:
        meta = self._metadata.get(cc)
        if meta is None:
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]
            meta = self._metadata[cc] = PhoneMetadata.metadata_for_region_or_calling_code(cc, regions[0])
        return meta

    def _strip_national_prefix(self, cc: int, nsn: str) -> str:
        """parse(): strip a national prefix after the country code when what remains is viable.

        Rare (a few numbers in a hundred reach here), so it runs phonenumbers' own steps.
        """
        meta = self._main_metadata(cc)
        prefix = self._national_prefix.get(cc)
        if prefix is None:
            prefix = self._national_prefix[cc] = re.compile(meta.national_prefix_for_parsing)
        if not prefix.match(nsn):
            return nsn
        _, potential, _ = pnu._maybe_strip_national_prefix_carrier_code(nsn, meta)
        if pnu._test_number_length(potential, meta) in _UNSTRIPPABLE:
            return nsn
        return potential

    def describe_batch(self, candidates: list[str], default_region: str | None = None) -> Batch:
        """Describe normalized candidates (`+digits`, or bare digits with a default region)."""
        t = self.t
        n = len(candidates)
        lengths = np.fromiter(map(len, candidates), dtype=np.int64, count=n)
        text = "".join(candidates).encode()
        if len(text) != int(lengths.sum()):  # non-ASCII: such a candidate is never compiled
            text = "".join(c if c.isascii() else "?" * len(c) for c in candidates).encode()
        buffer = np.frombuffer(text + b"\0" * _WIDTH, dtype=np.uint8)
        starts = np.cumsum(lengths) - lengths

        # "+digits" of a plausible length is compiled; anything else takes the reference path.
        rows = starts[:, None] + _COLUMNS[None, :]
        digits = buffer[rows[:, 1:]] - np.uint8(48)  # wraps below "0": anything > 9 is no digit
        inside = _COLUMNS[None, 1:] < lengths[:, None]
        simple = (
            (buffer[starts] == 43)
            & (lengths >= 4)
            & (lengths <= _WIDTH)
            & np.all((digits <= 9) | ~inside, axis=1)
        )
        prefix = (digits[:, 0].astype(np.int64) * 100 + digits[:, 1] * 10 + digits[:, 2]) * simple
        cc = self._cc_of_prefix[prefix]
        cc_length = self._cc_length_of_prefix[prefix]
        reasons = np.full(n, None, dtype=object)
        reasons[simple & (cc == 0)] = "invalid_country_code"
        parsed = simple & (cc != 0)
        nsn_length = lengths - 1 - cc_length
        reasons[parsed & (nsn_length < 2)] = "too_short"
        parsed &= nsn_length >= 2
        rows = np.flatnonzero(parsed)

        # Digits after "+" (for prefix lookups) and after the calling code, PAD past the end.
        e164 = np.where(inside[rows], digits[rows], np.uint8(PAD))
        national_start = starts[rows] + 1 + cc_length[rows]
        nsn = buffer[national_start[:, None] + _COLUMNS[None, : _WIDTH - 2]] - np.uint8(48)
        nsn_length = nsn_length[rows]
        nsn[_COLUMNS[None, : _WIDTH - 2] >= nsn_length[:, None]] = PAD
        cc, cc_length = cc[rows], cc_length[rows]

        e164_text = [candidates[i] for i in rows.tolist()]
        for j in np.flatnonzero(self._strip_first[cc, nsn[:, 0]]).tolist():
            whole = e164_text[j]
            national = whole[1 + cc_length[j] :]
            stripped = self._strip_national_prefix(int(cc[j]), national)
            if stripped != national:
                e164_text[j] = whole[: 1 + cc_length[j]] + stripped
                nsn_length[j] = len(stripped)
                nsn[j] = PAD
                nsn[j, : len(stripped)] = np.frombuffer(stripped.encode(), dtype=np.uint8) - 48
                e164[j] = PAD
                e164[j, : len(e164_text[j]) - 1] = (
                    np.frombuffer(e164_text[j][1:].encode(), dtype=np.uint8) - 48
                )
        too_long = nsn_length > MAX_NSN
        if too_long.any():
            reasons[rows[too_long]] = "too_long"
            keep = ~too_long
            rows, cc, nsn, nsn_length, e164 = rows[keep], cc[keep], nsn[keep], nsn_length[keep], e164[keep]
            e164_text = [text for text, k in zip(e164_text, keep.tolist()) if k]

        columns = self._classify(rows, cc, nsn, nsn_length, e164, n)
        columns[0][rows] = e164_text
        fallback = np.flatnonzero(~simple).tolist()
        batch = Batch(reasons.tolist(), *[c.tolist() for c in columns], fallbacks=len(fallback))
        for i in fallback:
            self._reference(batch, i, candidates[i], default_region)
        return batch

    # -- the vectorized part -------------------------------------------------------------------

    def _classify(self, rows: np.ndarray, cc: np.ndarray, nsn: np.ndarray, nsn_length: np.ndarray,
                  e164_digits: np.ndarray, n: int) -> list[np.ndarray]:
        """Object columns (e164, valid, type, region, carrier, timezones), filled at `rows`."""
        t = self.t
        columns = [np.full(n, None, dtype=object) for _ in range(6)]
        if len(rows) == 0:
            return columns
        state = self._start_of_cc[cc]
        for column in np.asfortranarray(nsn).T[: int(nsn_length.max())]:
            state = t.transitions[state, column]
        outcome = t.outcome_of[state, nsn_length]
        types = self._types[outcome]

        e164_digits = np.asfortranarray(e164_digits[:, :_PREFIX_DEPTH])
        carrier = _longest_prefix(t.carrier_trie, t.carrier_value, e164_digits)
        carrier = np.where(self._carrier_ok[outcome], carrier, -1)
        tz = _longest_prefix(t.tz_trie, t.tz_value, e164_digits)
        tz = np.where(tz < 0, self._unknown_tz, tz)
        geographic = np.isin(types, _GEOGRAPHIC_TYPES) | (
            (types == phonenumbers.PhoneNumberType.MOBILE) & self._geo_mobile[cc]
        )
        tz = np.where(geographic, tz, self._country_tz_of_cc[cc])
        tz = np.where(types == phonenumbers.PhoneNumberType.UNKNOWN, self._unknown_tz, tz)

        columns[1][rows] = self._valid[outcome]
        columns[2][rows] = self._type_names[outcome]
        columns[3][rows] = self._regions[outcome]
        columns[4][rows] = self._carrier_names[carrier]
        columns[5][rows] = self._tz_names[tz]
        return columns

    def _reference(self, batch: Batch, i: int, candidate: str, default_region: str | None) -> None:
        try:
            d = reference.describe(reference.parse(candidate, default_region))
        except NotANumber as exc:
            batch.reasons[i] = exc.reason
            return
        batch.e164[i], batch.valid[i], batch.type[i] = d.e164, d.valid, d.type
        batch.region[i], batch.carrier[i], batch.timezones[i] = d.region, d.carrier, d.timezones


def pnu_unknown_time_zones() -> tuple[str, ...]:
    from phonenumbers import timezone

    return tuple(timezone._UNKNOWN_TIME_ZONE_LIST)


def _longest_prefix(trie: np.ndarray, values: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """The value of the longest prefix present in the trie, or -1, for each row of digits."""
    node = np.ones(len(digits), dtype=np.int64)
    best = np.full(len(digits), -1, dtype=np.int64)
    for column in digits.T:
        node = trie[node, column]
        found = values[node]
        best = np.where(found >= 0, found, best)
    return best
