"""Parsed numbers as digit arrays, and parse()'s national-prefix step for the rare number.

Shared by the vectorized parse (validator.py) and the description of parsed numbers
(describe.py), which needs parse()'s step again for Argentina's mobile token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import phonenumbers
from phonenumbers import PhoneMetadata

from numcheck.numbers.compiled import internals
from numcheck.numbers.compiled.tables import PAD

NSN_WIDTH = 22  # national digits a line of "+" and 23 digits can hold after its calling code
PREFIX_DEPTH = 9  # longest carrier, time-zone and geocoder prefixes (asserted at build time)
_UNSTRIPPABLE = (
    phonenumbers.ValidationResult.TOO_SHORT,
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    phonenumbers.ValidationResult.INVALID_LENGTH,
)


@dataclass
class Parsed:
    """Parsed numbers: calling code and national significant number, as digit arrays."""

    cc: np.ndarray  # int64 [n]
    nsn: np.ndarray  # uint8 [n, NSN_WIDTH]: digits 0-9, PAD after the number
    nsn_length: np.ndarray  # int64 [n]
    e164: list[str]
    prefixes: np.ndarray  # uint8 [n, PREFIX_DEPTH]: the first digits of e164, PAD after

    @classmethod
    def of(cls, numbers: list[tuple[int, str]]) -> Parsed:
        """From (calling code, national significant number) pairs."""
        nsn = np.full((len(numbers), NSN_WIDTH), PAD, dtype=np.uint8)
        prefixes = np.full((len(numbers), PREFIX_DEPTH), PAD, dtype=np.uint8)
        for row, (cc, national) in enumerate(numbers):
            nsn[row, : len(national)] = digits_of(national)
            leading = f"{cc}{national}"[:PREFIX_DEPTH]
            prefixes[row, : len(leading)] = digits_of(leading)
        return cls(
            cc=np.array([cc for cc, _ in numbers], dtype=np.int64),
            nsn=nsn,
            nsn_length=np.array([len(national) for _, national in numbers], dtype=np.int64),
            e164=[f"+{cc}{national}" for cc, national in numbers],
            prefixes=prefixes,
        )

    def national(self, row: int) -> str:
        return "".join(map(str, self.nsn[row, : self.nsn_length[row]].tolist()))


class NationalPrefixes:
    """parse()'s national-prefix stripping after the calling code, per number, by phonenumbers'
    own steps (a few numbers in a hundred need it)."""

    def __init__(self) -> None:
        self._by_code: dict[int, tuple[PhoneMetadata, re.Pattern[str]]] = {}

    def strip(self, cc: int, nsn: str) -> str:
        """parse(): strip a national prefix after the country code when what remains is possible.

        Rare (a few numbers in a hundred get here), so it runs phonenumbers' own steps.
        """
        found = self._by_code.get(cc)
        if found is None:
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]
            main = PhoneMetadata.metadata_for_region_or_calling_code(cc, regions[0])
            assert main is not None and main.national_prefix_for_parsing  # strip_first_digits
            found = self._by_code[cc] = (main, re.compile(main.national_prefix_for_parsing))
        meta, prefix = found
        if not prefix.match(nsn):
            return nsn
        _, potential, _ = internals.strip_national_prefix_carrier_code(nsn, meta)
        if internals.validate_length(potential, meta) in _UNSTRIPPABLE:
            return nsn
        return potential


def digits_of(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8) - np.uint8(48)
