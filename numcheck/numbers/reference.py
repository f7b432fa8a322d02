"""The reference path: `phonenumbers` itself, whose answers every faster path must equal."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import carrier, timezone

from numcheck.numbers.normalize import NotANumber

# Python's re module caches only 512 patterns; phonenumbers uses thousands and would thrash.
phonenumbers.enable_pattern_cache()

_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not_a_number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too_short_after_idd",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too_short",
    phonenumbers.NumberParseException.TOO_LONG: "too_long",
}

_TYPE_NAMES = {
    getattr(phonenumbers.PhoneNumberType, name): name.lower()
    for name in dir(phonenumbers.PhoneNumberType)
    if name.isupper()
}

METADATA_VERSION = phonenumbers.__version__


@dataclass(frozen=True, slots=True)
class Description:
    """What the `validate` check reports for one number, as strings ready for a CSV row."""

    e164: str
    valid: bool
    type: str
    region: str
    carrier: str
    timezones: str


def parse(candidate: str, default_region: str | None = None) -> phonenumbers.PhoneNumber:
    """Parse a normalized candidate; parse errors become NotANumber with their reason."""
    try:
        return phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException as exc:
        raise NotANumber(_PARSE_REASONS.get(exc.error_type, "not_a_number")) from None


def describe(number: phonenumbers.PhoneNumber) -> Description:
    """Everything `phonenumbers` says about a parsed number."""
    region = phonenumbers.region_code_for_number(number)
    return Description(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        valid=phonenumbers.is_valid_number(number),
        type=_TYPE_NAMES[phonenumbers.number_type(number)],
        region="" if region in (None, "ZZ") else region,
        carrier=carrier.name_for_number(number, "en"),
        timezones=";".join(timezone.time_zones_for_number(number)),
    )
