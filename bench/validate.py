"""The compiled validator beside phonenumbers, one core, the same 1,000,000 lines, one run.

    .venv/bin/python -m bench.validate [--lines 1000000]    speed: numbers/second of both, ratio
    .venv/bin/python -m bench.validate --check 1000000      equivalence: count of disagreements

The phonenumbers side computes the same columns as the `validate` check (bench.corpus:
parse, is_valid_number, number_type, region_code_for_number, carrier name, time zones, the
NATIONAL and INTERNATIONAL formats, the geocoder's country name and description, and
is_possible_number_with_reason for invalid numbers) with enable_pattern_cache() on (its
fastest form). The numcheck side is the `validate` check as workers run it: normalization, the
compiled validator and result rows, in chunks of 50,000 lines.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import phonenumbers
from phonenumbers import PhoneMetadata

from bench.corpus import numbers, phonenumbers_rate
from numcheck import numbers as reference_path
from numcheck.checks import Failure
from numcheck.checks.validate import ValidateCheck
from numcheck.numbers.compiled import validator

CHUNK = 50_000


def pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def numcheck_pass(lines: list[str]) -> float:
    check = ValidateCheck()
    started = time.perf_counter()
    for start in range(0, len(lines), CHUNK):
        check.check_batch(lines[start : start + CHUNK], None)
    return len(lines) / (time.perf_counter() - started)


def random_inputs(count: int, seed: int) -> list[str]:
    """Realistic numbers, random digits after every calling code, national prefixes after it."""
    rng = random.Random(seed)
    realistic = numbers(count // 2, seed)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items())
    lines = list(realistic)
    while len(lines) < count:
        cc, regions = rng.choice(codes)
        meta = PhoneMetadata.metadata_for_region_or_calling_code(cc, regions[0])
        prefix = ""
        if rng.random() < 0.3:
            prefix = rng.choice([meta.national_prefix or "0", "0", "1", "8", "9"])
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 18)))
        lines.append(f"+{cc}{prefix}{digits}")
    rng.shuffle(lines)
    return lines


def reference_outcome(line: str):  # type: ignore[no-untyped-def]
    try:
        d = reference_path.describe(reference_path.parse(reference_path.normalize_line(line)))
    except reference_path.NotANumber as exc:
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


def check(count: int, seed: int) -> None:
    lines = random_inputs(count, seed)
    disagreements = fallbacks = 0
    for start in range(0, len(lines), CHUNK):
        chunk = lines[start : start + CHUNK]
        result = ValidateCheck().check_batch(chunk, None)
        fallbacks += result.stats["fallbacks"]
        for line, got in zip(chunk, result.outcomes, strict=True):
            if got != reference_outcome(line):
                disagreements += 1
                if disagreements <= 10:
                    print(f"  differs: {line!r}: {got} != {reference_outcome(line)}")
    print(f"inputs          : {len(lines):,} (seed {seed}), every column compared")
    print(f"disagreements   : {disagreements}")
    print(f"fallbacks       : {fallbacks} (answered by the reference path)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument(
        "--passes", type=int, default=3, help="numcheck passes (the median is shown)"
    )
    parser.add_argument(
        "--check",
        type=int,
        nargs="?",
        const=1_000_000,
        default=None,
        help="compare with the reference over N random inputs instead",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    pin_one_core()
    # Build or load the tables, the geocoder's included, outside the timing.
    validator.shared().describe_lines(["+12025551234"])
    if args.check:
        check(args.check, args.seed)
        return
    lines = numbers(args.lines, args.seed)
    ours = statistics.median(numcheck_pass(lines) for _ in range(args.passes))
    theirs = phonenumbers_rate(lines)
    groups = len({line[:4] for line in lines})
    print(f"corpus          : {len(lines):,} lines, {groups:,} leading-digit groups, one core")
    print(
        f"numcheck        : {ours:,.0f} numbers/s "
        "(validate check: normalize, compiled validator, rows)"
    )
    print(
        f"phonenumbers    : {theirs:,.0f} numbers/s (the same columns: parse, valid, type, region, "
        "carrier, time zones, formats, country, location, reason)"
    )
    print(f"ratio           : {ours / theirs:.1f}x")


if __name__ == "__main__":
    main()
