"""Every private name the compiled validator relies on still exists and still means the same.

An upgrade of phonenumbers or Python that renames or changes one of them fails here, naming it,
before the differential tests fail somewhere less obvious. numcheck/numbers/compiled/internals.py
is the only module that may touch them (checked below).
"""

from __future__ import annotations

import ast
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneMetadata, PhoneNumberType, ValidationResult

from numcheck.numbers.compiled import internals

NUMBERS = Path(__file__).parents[3] / "numcheck" / "numbers"


def test_a_missing_private_name_fails_naming_it() -> None:
    with pytest.raises(internals.MissingInternal, match=r"phonenumbers\.phonenumberutil\._gone"):
        internals._private("phonenumbers.phonenumberutil", "_gone")
    with pytest.raises(internals.MissingInternal, match=r"re\._no_such_module"):
        internals._private_module("re._no_such_module")


def test_re_parser_gives_the_tree_the_automata_read() -> None:
    """re._parser / re._constants: the opcodes automaton.py and formats.py walk."""
    sre = internals.sre_constants
    tree = list(internals.sre_parse.parse(r"(1[2-4]|5)\d{2,3}"))
    assert [op for op, _ in tree] == [sre.SUBPATTERN, sre.MAX_REPEAT], "re._parser.parse"
    group, _, _, inner = tree[0][1]
    assert group == 1 and inner[0][0] == sre.BRANCH, "re._parser SUBPATTERN layout"
    low, high, repeated = tree[1][1]
    assert (low, high) == (2, 3) and repeated[0][0] == sre.IN, "re._parser MAX_REPEAT layout"
    (_, (_, high, _)), *_ = internals.sre_parse.parse(r"\d*")
    assert high == sre.MAXREPEAT, "re._constants.MAXREPEAT"


def test_max_length_for_nsn() -> None:
    assert internals.MAX_LENGTH_FOR_NSN == 17, "phonenumberutil._MAX_LENGTH_FOR_NSN"


def test_strip_national_prefix_carrier_code() -> None:
    """phonenumberutil._maybe_strip_national_prefix_carrier_code(number, metadata)."""
    germany = PhoneMetadata.metadata_for_region("DE")
    assert internals.strip_national_prefix_carrier_code("030123456", germany)[1] == "30123456"
    argentina = PhoneMetadata.metadata_for_region("AR")
    # Argentina's transform rule: "0 11 15 ..." becomes "9 11 ...".
    _, stripped, done = internals.strip_national_prefix_carrier_code("0111523456789", argentina)
    assert (stripped, done) == ("91123456789", True)


def test_validate_length() -> None:
    """phonenumberutil._test_number_length(national_number, metadata)."""
    germany = PhoneMetadata.metadata_for_region("DE")
    assert internals.validate_length("3012345", germany) == ValidationResult.IS_POSSIBLE
    assert internals.validate_length("3", germany) == ValidationResult.TOO_SHORT
    assert internals.validate_length("3" * 17, germany) == ValidationResult.TOO_LONG


def test_first_group_pattern() -> None:
    """phonenumberutil._FIRST_GROUP_PATTERN: where the national-prefix rule goes."""
    assert internals.FIRST_GROUP_PATTERN.sub(r"0\1", r"\1 \2", count=1) == r"0\1 \2"


def test_find_lang() -> None:
    """prefix._find_lang(by_language, lang, script, region)."""
    assert internals.find_lang({"en": "Berlin", "de": "Berlin (DE)"}, "en", None, None) == "Berlin"
    assert internals.find_lang({"de": "München"}, "en", None, None) is None
    assert internals.find_lang({"en": "Munich"}, "fr", None, None) == "Munich"


def test_is_carrier_type() -> None:
    """carrier._is_mobile(number_type)."""
    assert internals.is_carrier_type(PhoneNumberType.MOBILE)
    assert not internals.is_carrier_type(PhoneNumberType.FIXED_LINE)


def test_country_level_time_zones() -> None:
    """timezone._country_level_time_zones_for_number(number)."""
    zones = internals.country_level_time_zones(phonenumbers.PhoneNumber(country_code=49))
    assert zones == ("Europe/Berlin",)


def test_region_display_name() -> None:
    """geocoder._region_display_name(region, lang)."""
    assert internals.region_display_name("DE", "en") == "Germany"
    assert internals.region_display_name("ZZ", "en") == ""


def private_references(path: Path) -> list[str]:
    """`module._name` attribute reads and `from module import _name` imports of a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not (
                node.attr.startswith("__")
                or (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            )
        ):
            found.append(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if any(p.startswith("_") and not p.startswith("__") for p in node.module.split(".")):
                found.append(node.module)
            found += [alias.name for alias in node.names if alias.name.startswith("_")]
    return found


def test_no_other_module_touches_a_private_name_of_phonenumbers_or_re() -> None:
    problems = {}
    for path in NUMBERS.rglob("*.py"):
        if path.name == "internals.py":
            continue
        names = [n for n in private_references(path) if n not in OWN_PRIVATE_NAMES]
        if names:
            problems[str(path.relative_to(NUMBERS))] = names
    assert problems == {}


# numcheck's own underscored helpers, read across its modules (never a library's).
OWN_PRIVATE_NAMES = {"_private", "_private_module"}
