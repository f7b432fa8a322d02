"""The compiled validator gives the reference path's answers, field by field.

The reference is phonenumbers itself (numcheck.numbers.reference): normalize_line,
phonenumbers.parse, format_number (E164, NATIONAL, INTERNATIONAL), is_valid_number, number_type,
region_code_for_number, carrier name, time zones, the geocoder's country name and description,
and is_possible_number_with_reason — every column of a `validate` row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random

import numpy as np
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata

from numcheck import numbers
from numcheck.checks import BatchResult, Failure
from numcheck.checks.validate import ValidateCheck
from numcheck.numbers.compiled import validator

CHECK = ValidateCheck()
TYPES = [
    getattr(phonenumbers.PhoneNumberType, n)
    for n in dir(phonenumbers.PhoneNumberType)
    if n.isupper()
]


def reference_outcome(line: str, region: str | None = None):
    try:
        d = numbers.describe(numbers.parse(numbers.normalize_line(line, region), region))
    except numbers.NotANumber as exc:
        return Failure(exc.reason)
    return (
        d.e164,
        "yes" if d.valid else "no",
        d.type,
        d.region,
        d.carrier,
        d.timezones,
        d.national,
        d.international,
        d.country,
        d.location,
        d.reason,
    )


def assert_equivalent(lines: list[str], region: str | None = None) -> BatchResult:
    """Assert every outcome equals the reference; return the check's result."""
    result = CHECK.check_batch(lines, region)
    expected = [reference_outcome(line, region) for line in lines]
    mismatches = [
        (line, got, want)
        for line, got, want in zip(lines, result.outcomes, expected, strict=True)
        if got != want
    ]
    assert mismatches[:5] == [], f"{len(mismatches)} of {len(lines)} differ"
    return result


def spell(e164: str, rng: random.Random) -> str:
    digits = e164[1:]
    cut = rng.randrange(1, max(2, len(digits)))
    return rng.choice(
        (
            e164,
            f"00{digits}",
            f"+{digits[:cut]} {digits[cut:]}",
            f"+{digits[:cut]}-{digits[cut:]}",
            f"({'+' + digits[:cut]}) {digits[cut:]}",
            f" 00 {digits[:cut]}.{digits[cut:]} ",
            f"+{digits[:cut]}/{digits[cut:]}",
        )
    )


def randomize(national: str, rng: random.Random) -> str:
    keep = rng.randrange(0, len(national) + 1)
    extra = rng.choice((0, 0, 0, 1, -1))
    length = max(1, len(national) + extra)
    return (national[:keep] + "".join(rng.choice("0123456789") for _ in range(length)))[:length]


def corpus(rng: random.Random) -> list[str]:
    lines: list[str] = []
    # Every supported region's example numbers of every type, with random suffixes.
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in TYPES:
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is None:
                continue
            national = phonenumbers.national_significant_number(example)
            lines += [
                spell(f"+{example.country_code}{randomize(national, rng)}", rng) for _ in range(45)
            ]
    # Non-geographic entities (+800, +808, +870, +881-883, +979, ...).
    for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(cc)
        national = phonenumbers.national_significant_number(example) if example else "12345678"
        lines += [f"+{cc}{randomize(national, rng)}" for _ in range(200)]
    # Random digit strings after every calling code, with the national prefix after it too.
    for cc, regions in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()):
        meta = PhoneMetadata.metadata_for_region_or_calling_code(cc, regions[0])
        prefixes = [meta.national_prefix] if meta is not None and meta.national_prefix else []
        for _ in range(400):
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 18)))
            lines.append(f"+{cc}{digits}")
        for prefix in [*prefixes, "0", "1", "8", "9"]:
            for _ in range(40):
                digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(5, 13)))
                lines.append(f"+{cc}{prefix}{digits}")
    # The known traps, densely: +49 0, +358 0, +7 8, +1 1, Italian leading zeros, Argentina's 9.
    for head in (
        "+490",
        "+3580",
        "+78",
        "+11",
        "+390",
        "+3903",
        "+549",
        "+5490",
        "+55",
        "+2610",
        "+378",
    ):
        for _ in range(1500):
            lines.append(
                head + "".join(rng.choice("0123456789") for _ in range(rng.randrange(4, 14)))
            )
    # Argentina's mobile token: the location of +54 9 ... is looked up without the 9, as
    # parse(rest, "AR") reads it — area codes followed by "15" are a national prefix there.
    for area in ("11", "221", "223", "2657", "2901", "3543", "351", "3888", "0", "00", "54"):
        for _ in range(300):
            suffix = "".join(rng.choice("0123456789") for _ in range(8 - len(area)))
            lines.append(f"+549{area}{rng.choice(('15', ''))}{suffix}")
    # Lines that are not numbers at all, and numbers with odd lengths.
    lines += ["+", "+1", "+12", "+123", "00", "0049", "+0123456", "+" + "9" * 30, "+49" + "1" * 250]
    return lines


@pytest.mark.slow
def test_compiled_equals_reference_on_a_generated_corpus() -> None:
    lines = corpus(random.Random(20261127))
    assert len(lines) >= 200_000
    result = assert_equivalent(lines)
    # Only implausible lengths (over 23 digits) are left to the reference.
    odd = 0
    for line in lines:
        with contextlib.suppress(numbers.NotANumber):
            odd += len(numbers.normalize_line(line)) > 24
    assert result.stats["fallbacks"] == odd < len(lines) / 1000
    # The corpus really exercises every column, each way it can go.
    rows = [o for o in result.outcomes if isinstance(o, tuple)]
    assert {row[10] for row in rows} == {"", *numbers.reference.INVALID_REASONS.values()} - {
        "invalid_country_code"  # a parsed number always has a known calling code
    }
    assert any(row[1] == "yes" and row[8] == "" for row in rows)  # shared code, several countries
    assert any(row[5] == "" for row in rows) and any(";" in row[5] for row in rows)
    assert any(row[6] == row[0][len(row[7].split()[0]) :] for row in rows)  # no format matched
    areas = {row[9] for row in rows if row[9] not in ("", row[8])}
    assert len(areas) > 1000
    assert any(row[0].startswith("+549") and row[9] not in ("", row[8]) for row in rows)


def test_default_region_lines_agree_through_the_reference() -> None:
    us = ["(202) 555-1234", "2025551234", "+4930123456", "0049 30 123456", "1"]
    de = ["030 1234567", "0151 12345678", "+12025551234"]
    # Bare national digits are parsed by phonenumbers (counted), then described compiled.
    assert assert_equivalent(us, "US").stats["fallbacks"] == 3
    assert assert_equivalent(de, "DE").stats["fallbacks"] == 2


def test_formats_without_a_proven_layout_are_rewritten_as_phonenumbers_does() -> None:
    """A (format, length) whose layout could not be proven goes through re.sub, per number."""
    tables = dataclasses.replace(
        validator.shared().t,
        rule_template=np.full_like(validator.shared().t.rule_template, -1),
    )
    unproven = validator.CompiledValidator(tables, validator.default_cache_dir())
    lines = corpus(random.Random(5))[::40]
    batch = unproven.describe_lines(lines)
    expected = [reference_outcome(line) for line in lines]
    formatted = list(zip(batch.column("national"), batch.column("international"), strict=True))
    formatted = [f for f, reason in zip(formatted, batch.reasons, strict=True) if reason is None]
    assert formatted == [(e[6], e[7]) for e in expected if not isinstance(e, Failure)]
    # Counted as fallbacks (each format of each number a rule matched); normally there are none.
    assert batch.fallbacks > len(formatted) / 4
    assert validator.shared().describe_lines(lines).fallbacks == 0


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="0123456789", min_size=2, max_size=20))
def test_any_plus_digit_string_agrees(digits: str) -> None:
    assert_equivalent(["+" + digits])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=2, max_size=20), min_size=1, max_size=60))
def test_any_batch_of_plus_digit_strings_agrees(batch: list[str]) -> None:
    assert_equivalent(["+" + digits for digits in batch])
