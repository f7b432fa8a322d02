"""What the compiled tables say about parsed numbers: every value column of a `validate` row.

The calling code's automaton walked over the national number gives (valid, type, region,
country) and the format rules; prefix tries give carrier, time zones and, through the geocoder's
tables (mapped on first use), the location; possible lengths give the reason. Each column is
what phonenumbers gives for the same (calling code, national number).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata

from numcheck.numbers.compiled import formats
from numcheck.numbers.compiled.geocoding import Geocoder, longest_prefix
from numcheck.numbers.compiled.parsed import PREFIX_DEPTH, NationalPrefixes, Parsed, digits_of
from numcheck.numbers.compiled.tables import MAX_NSN, PAD, REASONS, TYPE_NAMES, Tables

# The value columns, in the order of a `validate` row after the number itself.
COLUMNS = (
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
_GEOGRAPHIC_TYPES = (
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)
_MOBILE = phonenumbers.PhoneNumberType.MOBILE
_UNKNOWN = phonenumbers.PhoneNumberType.UNKNOWN


class Describer:
    """The value columns of parsed numbers, for one process (the geocoder mapped lazily)."""

    def __init__(self, tables: Tables, cache_dir: Path, prefixes: NationalPrefixes) -> None:
        self.t = tables
        self._cache_dir = cache_dir
        self._national_prefixes = prefixes
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
        # Dense arrays indexed by calling code, for the numpy steps.
        self._start_of_cc = np.zeros(1000, dtype=np.int64)
        self._country_tz_of_cc = np.zeros(1000, dtype=np.int64)
        self._geo_mobile = np.zeros(1000, dtype=bool)
        for cc, state in tables.start.items():
            self._start_of_cc[cc] = state
            self._country_tz_of_cc[cc] = tables.country_tz[cc]
            self._geo_mobile[cc] = cc in tables.geo_mobile_countries
        self._token_first = np.full(1000, PAD + 1, dtype=np.int64)  # no digit matches
        for cc, token in tables.mobile_tokens.items():
            self._token_first[cc] = int(token[0])
        self._geocoder: Geocoder | None = None
        self._country_of_outcome: np.ndarray | None = None
        # A running count of steps left to phonenumbers (re.sub of an unproven format, a parse).
        self.fallbacks = 0

    def columns(self, parsed: Parsed) -> dict[str, list[Any]]:
        """Every value column of parsed numbers (their `+digits` form aside)."""
        if len(parsed.cc) == 0:
            return {name: [] for name in COLUMNS}
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

        national, international = self._formats(parsed, state)
        country, location = self._geocode(parsed, outcome, types, geographic, prefixes)
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

    def _formats(self, parsed: Parsed, state: np.ndarray) -> tuple[list[str], list[str]]:
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
                self.fallbacks += 1
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
        parsed: Parsed,
        outcome: np.ndarray,
        types: np.ndarray,
        geographic: np.ndarray,
        prefixes: np.ndarray,
    ) -> tuple[list[str], list[str]]:
        """country_name_for_number and description_for_number (English, no user region)."""
        geocoder, country_of_outcome = self._geocoding()
        country = country_of_outcome[outcome]
        # description_for_number: unknown type -> ""; not geographic -> the country's name.
        location = np.where(types == _UNKNOWN, "", country)
        geo_rows = np.flatnonzero(geographic)
        if len(geo_rows):
            lookup = prefixes[geo_rows]
            self._mobile_token_prefixes(parsed, geo_rows, lookup)
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
        self, parsed: Parsed, geo_rows: np.ndarray, lookup: np.ndarray
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
            self.fallbacks += by_reference
            if rest is None:
                continue  # parse() refused it: the geocoder keeps the number as it was
            digits = digits_of((str(code) + rest)[:PREFIX_DEPTH])
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
            return self._national_prefixes.strip(cc, digits), False
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            return None, True
        return phonenumbers.national_significant_number(number), True
