"""A 20,000-line file over ~40 regions plus malformed lines, checked row by row and column by
column against `phonenumbers` itself."""

import csv
import io
import random

import phonenumbers
import pytest
from phonenumbers import carrier, geocoder, timezone

from tests.helpers import Server, download_zip, submit, wait_for_status

# About 40 regions, every continent.
REGION_CODES = (
    "US CA GB DE FR IT ES NL BE CH AT SE NO DK FI PL CZ PT IE GR RU UA TR IL AE SA IN PK CN JP "
    "KR AU NZ BR AR MX CO ZA NG EG KE SG"
)
REGIONS = sorted(REGION_CODES.split())
TYPES = [
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
]
MALFORMED = [
    ("hello", "not_a_number"),
    ("+1 202 555 1234 ext 7", "not_a_number"),
    ("tel:+12025551234", "not_a_number"),
    ("+12025551234 +12025551235", "not_a_number"),
    ("=cmd|' /C calc'!A0", "not_a_number"),
    ("+0 12345", "invalid_country_code"),
    ("+999 1234567", "invalid_country_code"),
    ("+49 1", "too_short"),
    ("+1" + "2" * 18, "too_long"),
]
REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not_a_number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too_short_after_idd",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too_short",
    phonenumbers.NumberParseException.TOO_LONG: "too_long",
}
NOT_VALID_REASONS = {
    phonenumbers.ValidationResult.IS_POSSIBLE: "invalid_but_possible",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "possible_local_only",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    phonenumbers.ValidationResult.TOO_SHORT: "too_short",
    phonenumbers.ValidationResult.INVALID_LENGTH: "invalid_length",
    phonenumbers.ValidationResult.TOO_LONG: "too_long",
}
HEADER = [
    "Number",
    "valid",
    "type",
    "region",
    "carrier",
    "timezones",
    "national",
    "international",
    "country",
    "location",
    "reason",
]


def spell(e164: str, rng: random.Random) -> str:
    """The same number as people type it: plain, spaced, dashed, with 00 or parentheses."""
    digits = e164[1:]
    style = rng.randrange(5)
    if style == 1:
        return f"+{digits[:2]} {digits[2:5]} {digits[5:]}"
    if style == 2:
        return f"00{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    if style == 3:
        return f" +{digits[:1]}({digits[1:4]}){digits[4:]}\t"
    if style == 4:
        return f"+{digits[:3]}.{digits[3:]}"
    return e164


def corpus(size: int, seed: int = 7) -> tuple[list[str], dict[int, str], dict[int, str]]:
    """Lines of a file, the canonical `+digits` of each number line, and the malformed lines."""
    rng = random.Random(seed)
    lines: list[str] = []
    canonical: dict[int, str] = {}
    malformed: dict[int, str] = {}
    while len(lines) < size:
        roll = rng.random()
        if roll < 0.03:
            lines.append("")  # blank lines are skipped but still counted for line numbers
            continue
        if roll < 0.08:
            text, reason = rng.choice(MALFORMED)
            lines.append(text)
            malformed[len(lines)] = reason
            continue
        region = rng.choice(REGIONS)
        example = phonenumbers.example_number_for_type(region, rng.choice(TYPES))
        if example is None:
            continue
        national = str(example.national_number)
        keep = rng.randrange(1, len(national))  # random suffix: some valid, some not
        national = national[:keep] + "".join(rng.choice("0123456789") for _ in national[keep:])
        e164 = f"+{example.country_code}{national}"
        lines.append(spell(e164, rng))
        canonical[len(lines)] = e164
    return lines, canonical, malformed


def expected_outcome(candidate: str, default_region: str | None = None) -> tuple[str, ...] | str:
    try:
        number = phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException as exc:
        return REASONS[exc.error_type]
    return expected_row(number)


def expected_row(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    region = phonenumbers.region_code_for_number(number)
    type_name = next(
        name.lower()
        for name in dir(phonenumbers.PhoneNumberType)
        if name.isupper()
        and getattr(phonenumbers.PhoneNumberType, name) == phonenumbers.number_type(number)
    )
    valid = phonenumbers.is_valid_number(number)
    zones = timezone.time_zones_for_number(number)
    return (
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        "yes" if valid else "no",
        type_name,
        region if region and region != "ZZ" else "",
        carrier.name_for_number(number, "en"),
        "" if list(zones) == [timezone.UNKNOWN_TIMEZONE] else ";".join(zones),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        geocoder.country_name_for_number(number, "en"),
        geocoder.description_for_number(number, "en"),
        "" if valid else NOT_VALID_REASONS[phonenumbers.is_possible_number_with_reason(number)],
    )


@pytest.mark.slow
def test_every_row_equals_phonenumbers(server: Server, admin_key: str) -> None:
    lines, canonical, malformed = corpus(20_000)
    with server.client(admin_key) as client:
        created = submit(client, ("\n".join(lines) + "\n").encode())
        assert created.status_code == 200, created.text
        assert created.json()["total"] == sum(1 for line in lines if line.strip())
        status = wait_for_status(client, created.json()["task_id"], timeout=300)
    files = download_zip(status)

    expected_rows, expected_failures = [], []
    for line_no in range(1, len(lines) + 1):
        if line_no in malformed:
            expected_failures.append((line_no, malformed[line_no]))
        elif line_no in canonical:
            outcome = expected_outcome(canonical[line_no])
            if isinstance(outcome, str):
                expected_failures.append((line_no, outcome))
            else:
                expected_rows.append(outcome)

    rows = list(csv.reader(io.StringIO(files["results.csv"])))
    assert rows[0] == HEADER
    assert [tuple(row) for row in rows[1:]] == expected_rows  # same values, input order
    failed = list(csv.reader(io.StringIO(files["failed.csv"])))
    assert failed[0] == ["line", "input", "reason"]
    assert [(int(row[0]), row[2]) for row in failed[1:]] == expected_failures
    for row in failed[1:]:
        assert not row[1].startswith(("=", "+", "-", "@")), row  # neutralised echo
    assert status["success"] == len(expected_rows)
    assert status["failure"] == len(expected_failures)
    assert status["success"] + status["failure"] == status["total"]
    # The corpus really exercises what it claims to.
    assert len({r[3] for r in expected_rows}) >= 35
    assert {"yes", "no"} <= {r[1] for r in expected_rows}
    assert len({r[9] for r in expected_rows}) >= 300  # locations: cities and areas
    assert {r[10] for r in expected_rows} >= {"", "invalid_but_possible"}
    assert any(r[5] == "" for r in expected_rows) and any(r[8] == "" for r in expected_rows)
    assert set(dict(expected_failures).values()) >= {
        "not_a_number",
        "invalid_country_code",
        "too_short",
        "too_long",
    }


def test_default_region_reads_national_format(server: Server, admin_key: str) -> None:
    with server.client(admin_key) as client:
        created = submit(client, b"(202) 555-1234\n030 1234567\n+4930123456\n", default_region="US")
        status = wait_for_status(client, created.json()["task_id"])
    rows = list(csv.reader(io.StringIO(download_zip(status)["results.csv"])))[1:]
    expected = [
        phonenumbers.format_number(
            phonenumbers.parse(text, "US"), phonenumbers.PhoneNumberFormat.E164
        )
        for text in ("2025551234", "0301234567", "+4930123456")
    ]
    assert [row[0] for row in rows] == expected
    assert rows[0][:4] == ["+12025551234", "yes", "fixed_line_or_mobile", "US"]
    assert rows[2][3] == "DE"
    # Read against a region, a number still gets every column phonenumbers gives it.
    assert [tuple(row) for row in rows] == [
        expected_outcome(text, "US") for text in ("2025551234", "0301234567", "+4930123456")
    ]
