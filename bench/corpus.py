"""A mixed corpus of phone numbers for the benchmarks: every region, several types, random
suffixes (so roughly two in three are valid), a few malformed lines."""

from __future__ import annotations

import random
import time

import phonenumbers
from phonenumbers import carrier, geocoder, timezone

_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.VOIP,
)


def _examples() -> list[str]:
    examples = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in _TYPES:
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                examples.append(f"+{example.country_code}{example.national_number}")
    return examples


def numbers(count: int, seed: int = 1) -> list[str]:
    """`count` lines: E.164 numbers with their last digits randomised, ~1 % malformed."""
    rng = random.Random(seed)
    examples = _examples()
    lines = []
    for _ in range(count):
        if rng.random() < 0.01:
            lines.append(rng.choice(("n/a", "+0 123", "+49 1", "unknown")))
            continue
        example = rng.choice(examples)
        keep = max(3, len(example) - rng.randrange(1, 5))
        lines.append(example[:keep] + "".join(rng.choice("0123456789") for _ in example[keep:]))
    return lines


_NATIONAL = phonenumbers.PhoneNumberFormat.NATIONAL
_INTERNATIONAL = phonenumbers.PhoneNumberFormat.INTERNATIONAL


def phonenumbers_answer(line: str) -> None:
    """The reference for one line: phonenumbers computing the `validate` columns — parse,
    is_valid_number, number_type, region_code_for_number, carrier name, time zones, the
    NATIONAL and INTERNATIONAL formats, the geocoder's country name and description, and
    is_possible_number_with_reason for a number that is not valid."""
    try:
        number = phonenumbers.parse(line, None)
    except phonenumbers.NumberParseException:
        return
    if not phonenumbers.is_valid_number(number):
        phonenumbers.is_possible_number_with_reason(number)
    phonenumbers.number_type(number)
    phonenumbers.region_code_for_number(number)
    carrier.name_for_number(number, "en")
    timezone.time_zones_for_number(number)
    phonenumbers.format_number(number, _NATIONAL)
    phonenumbers.format_number(number, _INTERNATIONAL)
    geocoder.country_name_for_number(number, "en")
    geocoder.description_for_number(number, "en")


def phonenumbers_rate(lines: list[str]) -> float:
    """The reference's numbers/second over `lines` (`phonenumbers_answer` each), with its
    pattern cache on (its fastest form; the geodata is imported before the clock starts)."""
    phonenumbers.enable_pattern_cache()
    started = time.perf_counter()
    for line in lines:
        phonenumbers_answer(line)
    return len(lines) / (time.perf_counter() - started)
