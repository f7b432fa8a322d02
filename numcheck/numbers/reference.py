"""The reference path: `phonenumbers` itself, whose answers every faster path must equal."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

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

# The `reason` column: why a parsed number is not valid, from is_possible_number_with_reason.
INVALID_REASONS = {
    phonenumbers.ValidationResult.IS_POSSIBLE: "invalid_but_possible",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "possible_local_only",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    phonenumbers.ValidationResult.TOO_SHORT: "too_short",
    phonenumbers.ValidationResult.INVALID_LENGTH: "invalid_length",
    phonenumbers.ValidationResult.TOO_LONG: "too_long",
}

METADATA_VERSION = phonenumbers.__version__
LANGUAGE = "en"  # of carrier names, country names and locations


@dataclass(frozen=True, slots=True)
class Description:
    """What the `validate` check reports for one number, as strings ready for a CSV row."""

    e164: str
    valid: bool
    type: str
    region: str
    carrier: str
    timezones: str  # ";"-joined; "" when the metadata knows none
    national: str
    international: str
    country: str  # "" when the number could belong to several countries
    location: str
    reason: str  # "" for a valid number


def parse(candidate: str, default_region: str | None = None) -> phonenumbers.PhoneNumber:
    """Parse a normalized candidate; parse errors become NotANumber with their reason."""
    try:
        return phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException as exc:
        raise NotANumber(_PARSE_REASONS.get(exc.error_type, "not_a_number")) from None


def describe(number: phonenumbers.PhoneNumber) -> Description:
    """Everything `phonenumbers` says about a parsed number."""
    # Imported here: the geocoder loads ~100 MB of geodata, which only the reference needs.
    from phonenumbers import carrier, geocoder, timezone

    region = phonenumbers.region_code_for_number(number)
    valid = phonenumbers.is_valid_number(number)
    zones = timezone.time_zones_for_number(number)
    return Description(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        valid=valid,
        type=_TYPE_NAMES[phonenumbers.number_type(number)],
        region="" if region in (None, "ZZ") else region,
        carrier=carrier.name_for_number(number, LANGUAGE),
        timezones="" if tuple(zones) == (timezone.UNKNOWN_TIMEZONE,) else ";".join(zones),
        national=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
        international=phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        ),
        country=geocoder.country_name_for_number(number, LANGUAGE),
        location=geocoder.description_for_number(number, LANGUAGE),
        reason=""
        if valid
        else INVALID_REASONS[phonenumbers.is_possible_number_with_reason(number)],
    )
