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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata

from numcheck.numbers import reference
from numcheck.numbers.compiled import formats, internals
from numcheck.numbers.compiled import tables as compiled_tables
from numcheck.numbers.compiled.geocoding import Geocoder, longest_prefix
from numcheck.numbers.compiled.tables import MAX_NSN, PAD, REASONS, TYPE_NAMES, Tables
from numcheck.numbers.normalize import NotANumber, normalize_line

_WIDTH = 24  # "+" and 23 digits: room for a national prefix before 17 national digits
_COLUMNS = np.arange(_WIDTH)
_NSN_WIDTH = _WIDTH - 2
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


# The values `describe_lines` gives a parsed number, in the order of a `validate` row.
VALUE_COLUMNS = (
    "e164",
    "valid",
    "type",
    "region",
    "carrier",
    "timezones",
    "national",
    "international",
    "country",
    "location",
    "invalid_reason",  # the `reason` column: why the number is not valid ("" when it is)
)


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


@dataclass
class _Parsed:
    """Parsed numbers: calling code and national significant number, as digit arrays."""

    cc: np.ndarray  # int64 [n]
    nsn: np.ndarray  # uint8 [n, _NSN_WIDTH]: digits 0-9, PAD after the number
    nsn_length: np.ndarray  # int64 [n]
    e164: list[str]
    prefixes: np.ndarray  # uint8 [n, _PREFIX_DEPTH]: the first digits of e164, PAD after

    @classmethod
    def of(cls, numbers: list[tuple[int, str]]) -> _Parsed:
        """From (calling code, national significant number) pairs."""
        nsn = np.full((len(numbers), _NSN_WIDTH), PAD, dtype=np.uint8)
        prefixes = np.full((len(numbers), _PREFIX_DEPTH), PAD, dtype=np.uint8)
        for row, (cc, national) in enumerate(numbers):
            nsn[row, : len(national)] = _digits_of(national)
            leading = f"{cc}{national}"[:_PREFIX_DEPTH]
            prefixes[row, : len(leading)] = _digits_of(leading)
        return cls(
            cc=np.array([cc for cc, _ in numbers], dtype=np.int64),
            nsn=nsn,
            nsn_length=np.array([len(national) for _, national in numbers], dtype=np.int64),
            e164=[f"+{cc}{national}" for cc, national in numbers],
            prefixes=prefixes,
        )

    def national(self, row: int) -> str:
        return "".join(map(str, self.nsn[row, : self.nsn_length[row]].tolist()))


class CompiledValidator:
    def __init__(self, tables: Tables, cache_dir: Path) -> None:
        self.t = tables
        self._cache_dir = cache_dir
        outcomes = tables.outcomes
        self._valid = np.array([o[0] for o in outcomes], dtype=bool)
        self._valid_objects = np.array([o[0] for o in outcomes], dtype=object)
        self._types = np.array([o[1] for o in outcomes], dtype=np.int16)
        self._type_names = np.array([TYPE_NAMES[o[1]] for o in outcomes], dtype=object)
        self._regions = np.array([o[2] for o in outcomes], dtype=object)
        carrier_types = set(tables.carrier_types)
        self._carrier_ok = np.array([o[1] in carrier_types for o in outcomes], dtype=bool)
        self._carrier_names = np.array([*tables.carrier_names, ""], dtype=object)  # -1 -> ""
        # time_zones_for_number's "unknown" is written as no zone at all.
        self._tz_names = np.array(
            ["" if i == tables.unknown_tz else z for i, z in enumerate(tables.tz_names)],
            dtype=object,
        )
        self._reason_names = np.array(REASONS, dtype=object)
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
        self._token_first = np.full(1000, PAD + 1, dtype=np.int64)  # no digit matches
        for cc, token in tables.mobile_tokens.items():
            self._token_first[cc] = int(token[0])
        self._national_prefix: dict[int, tuple[PhoneMetadata, re.Pattern[str]]] = {}
        self._geocoder: Geocoder | None = None
        self._country_of_outcome: np.ndarray | None = None

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
        nsn = buffer[(starts[rows] + 1 + cc_length)[:, None] + _COLUMNS[None, :_NSN_WIDTH]]
        nsn -= np.uint8(48)
        nsn[_COLUMNS[None, :_NSN_WIDTH] >= nsn_length[:, None]] = PAD

        depth = _COLUMNS[None, :_PREFIX_DEPTH]
        prefixes = np.where(depth < (lengths[rows] - 1)[:, None], digits[rows, :_PREFIX_DEPTH], PAD)
        prefixes = prefixes.astype(np.uint8)
        e164 = [lines[i] for i in rows.tolist()]
        for j in np.flatnonzero(self._strip_first[cc, nsn[:, 0]]).tolist():
            national = e164[j][1 + cc_length[j] :]
            stripped = self._strip_national_prefix(int(cc[j]), national)
            if stripped != national:
                e164[j] = e164[j][: 1 + cc_length[j]] + stripped
                nsn_length[j] = len(stripped)
                nsn[j] = PAD
                nsn[j, : len(stripped)] = _digits_of(stripped)
                prefixes[j] = PAD
                leading = e164[j][1 : 1 + _PREFIX_DEPTH]
                prefixes[j, : len(leading)] = _digits_of(leading)
        too_long = nsn_length > MAX_NSN
        if too_long.any():
            reasons[rows[too_long]] = "too_long"
            keep = ~too_long
            rows, cc, nsn, nsn_length = rows[keep], cc[keep], nsn[keep], nsn_length[keep]
            prefixes = prefixes[keep]
            e164 = [text for text, kept in zip(e164, keep.tolist(), strict=True) if kept]

        batch = Batch(reasons.tolist())
        parsed = _Parsed(cc, nsn, nsn_length, e164, prefixes)
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
            parsed = _Parsed.of(numbers)
            batch.add(positions, self._values(parsed, batch, classify))

    def _values(self, parsed: _Parsed, batch: Batch, classify: bool) -> dict[str, list[Any]]:
        values: dict[str, list[Any]] = {"e164": parsed.e164}
        if classify:
            values.update(self._classify(parsed, batch))
        return values

    def _strip_national_prefix(self, cc: int, nsn: str) -> str:
        """parse(): strip a national prefix after the country code when what remains is possible.

        Rare (a few numbers in a hundred get here), so it runs phonenumbers' own steps.
        """
        found = self._national_prefix.get(cc)
        if found is None:
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]
            main = PhoneMetadata.metadata_for_region_or_calling_code(cc, regions[0])
            assert main is not None and main.national_prefix_for_parsing  # strip_first_digits
            found = self._national_prefix[cc] = (main, re.compile(main.national_prefix_for_parsing))
        meta, prefix = found
        if not prefix.match(nsn):
            return nsn
        _, potential, _ = internals.strip_national_prefix_carrier_code(nsn, meta)
        if internals.validate_length(potential, meta) in _UNSTRIPPABLE:
            return nsn
        return potential

    # -- describing parsed numbers ---------------------------------------------------------------

    def _classify(self, parsed: _Parsed, batch: Batch) -> dict[str, list[Any]]:
        """Every value column of parsed numbers (their `+digits` form aside)."""
        if len(parsed.cc) == 0:
            return {name: [] for name in VALUE_COLUMNS[1:]}
        t = self.t
        cc, nsn, nsn_length = parsed.cc, parsed.nsn, parsed.nsn_length
        state = self._start_of_cc[cc]
        transitions = t.transitions.ravel()
        for column in np.asfortranarray(nsn).T[: int(nsn_length.max())]:
            state = np.take(transitions, state * (PAD + 1) + column)
        outcome = np.take(t.outcome_of.ravel(), state * (MAX_NSN + 1) + nsn_length)
        types = self._types[outcome]
        valid = self._valid[outcome]
        prefixes = parsed.prefixes

        carrier = np.full(len(cc), -1, dtype=np.int64)
        carrier_rows = np.flatnonzero(self._carrier_ok[outcome])
        carrier[carrier_rows] = longest_prefix(
            t.carrier_trie, t.carrier_value, prefixes[carrier_rows]
        )
        # time_zones_for_number: unknown type -> unknown; not geographic -> the country's zones.
        geographic = np.isin(types, _GEOGRAPHIC_TYPES) | ((types == _MOBILE) & self._geo_mobile[cc])
        tz = self._country_tz_of_cc[cc]
        geo_rows = np.flatnonzero(geographic)
        found_tz = longest_prefix(t.tz_trie, t.tz_value, prefixes[geo_rows])
        tz[geo_rows] = np.where(found_tz < 0, t.unknown_tz, found_tz)
        tz[types == _UNKNOWN] = t.unknown_tz

        national, international = self._formats(parsed, state, batch)
        country, location = self._geocode(parsed, outcome, types, geographic, prefixes, batch)
        reason = np.where(valid, 0, t.reason_of[cc, nsn_length])
        return {
            "valid": self._valid_objects[outcome].tolist(),
            "type": self._type_names[outcome].tolist(),
            "region": self._regions[outcome].tolist(),
            "carrier": self._carrier_names[carrier].tolist(),
            "timezones": self._tz_names[tz].tolist(),
            "national": national,
            "international": international,
            "country": country,
            "location": location,
            "invalid_reason": self._reason_names[reason].tolist(),
        }

    def _formats(
        self, parsed: _Parsed, state: np.ndarray, batch: Batch
    ) -> tuple[list[str], list[str]]:
        """format_number NATIONAL and INTERNATIONAL: the automaton chose the rule, templates
        lay the digits out."""
        t = self.t
        cc, nsn_length = parsed.cc, parsed.nsn_length
        national_rule = t.national_rule[state]
        international_rule = t.international_rule[state]
        columns = [
            self._templates(national_rule, nsn_length, t.plain_national[nsn_length]),
            self._templates(international_rule, nsn_length, t.plain_international[cc, nsn_length]),
        ]
        national, international = formats.render(
            parsed.nsn,
            [c for c, _ in columns],
            t.template_source,
            t.template_literal,
            t.template_length,
        )
        for (_, unproven), rule, texts, prefix in (
            (columns[0], national_rule, national, False),
            (columns[1], international_rule, international, True),
        ):
            for row in unproven:  # none in the current metadata: re.sub as phonenumbers does
                batch.fallbacks += 1
                pattern, replacement = t.rules[int(rule[row])]
                text = formats.rewrite(pattern, replacement, parsed.national(row))
                texts[row] = f"+{int(cc[row])} {text}" if prefix else text
        return national, international

    def _templates(
        self, rule: np.ndarray, nsn_length: np.ndarray, plain: np.ndarray
    ) -> tuple[np.ndarray, list[int]]:
        """Each row's template: its rule's for its length, the plain number when no rule
        matched; and the rows whose rule has no proven layout (rendered plain, then rewritten)."""
        template = np.where(rule >= 0, self.t.rule_template[np.maximum(rule, 0), nsn_length], plain)
        unproven = np.flatnonzero(template < 0)
        template[unproven] = plain[unproven]
        return template, unproven.tolist()

    def _geocode(
        self,
        parsed: _Parsed,
        outcome: np.ndarray,
        types: np.ndarray,
        geographic: np.ndarray,
        prefixes: np.ndarray,
        batch: Batch,
    ) -> tuple[list[str], list[str]]:
        """country_name_for_number and description_for_number (English, no user region)."""
        geocoder, country_of_outcome = self._geocoding()
        country = country_of_outcome[outcome]
        # description_for_number: unknown type -> ""; not geographic -> the country's name.
        location = np.where(types == _UNKNOWN, "", country)
        geo_rows = np.flatnonzero(geographic)
        if len(geo_rows):
            lookup = prefixes[geo_rows]
            self._mobile_token_prefixes(parsed, geo_rows, lookup, batch)
            areas = geocoder.areas(lookup)
            named = areas >= 0
            location[geo_rows[named]] = geocoder.names(areas[named])
        return country.tolist(), location.tolist()

    def _geocoding(self) -> tuple[Geocoder, np.ndarray]:
        """The geocoder's tables, mapped on first use (built first if the cache has none)."""
        if self._geocoder is None or self._country_of_outcome is None:
            self._geocoder = Geocoder.open(self._cache_dir)
            self._country_of_outcome = np.array(
                [self._geocoder.country_name(o[3]) for o in self.t.outcomes], dtype=object
            )
        return self._geocoder, self._country_of_outcome

    def _mobile_token_prefixes(
        self, parsed: _Parsed, geo_rows: np.ndarray, lookup: np.ndarray, batch: Batch
    ) -> None:
        """description_for_valid_number's mobile token (Argentina's 9): the area comes from the
        number without it, as parse(rest, region) reads it."""
        cc = parsed.cc[geo_rows]
        candidates = np.flatnonzero(self._token_first[cc] == parsed.nsn[geo_rows, 0])
        for j in candidates.tolist():
            row = int(geo_rows[j])
            code = int(parsed.cc[row])
            token = self.t.mobile_tokens[code]
            national = parsed.national(row)
            if not national.startswith(token):
                continue
            rest, by_reference = self._national_number_in_region(code, national[len(token) :])
            batch.fallbacks += by_reference
            if rest is None:
                continue  # parse() refused it: the geocoder keeps the number as it was
            digits = _digits_of((str(code) + rest)[:_PREFIX_DEPTH])
            lookup[j] = PAD
            lookup[j, : len(digits)] = digits

    def _national_number_in_region(self, cc: int, digits: str) -> tuple[str | None, bool]:
        """The national number parse(digits, main region of cc) gives (None when it raises), and
        whether phonenumbers had to be asked: bare digits go through national prefix stripping,
        unless they start like an international prefix or the calling code (parse's other
        branches), which phonenumbers reads itself."""
        if len(digits) < 2:
            return None, False  # not a viable number: parse() raises
        region = phonenumbers.region_code_for_country_code(cc)
        meta = PhoneMetadata.metadata_for_region(region)
        idd = meta.international_prefix if meta is not None else None
        if not digits.startswith(str(cc)) and not (idd and re.match(idd, digits)):
            return self._strip_national_prefix(cc, digits), False
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            return None, True
        return phonenumbers.national_significant_number(number), True


def _digits_of(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8) - np.uint8(48)
