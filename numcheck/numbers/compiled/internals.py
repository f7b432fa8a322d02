"""The private names of `phonenumbers` and of Python's `re` that the compiled validator relies on.

Speed needs a few of them (phonenumbers' own steps for the rare number, its lookup helpers
when the tables are built, `re`'s pattern parser for the automata). This module is the only
place in numcheck that touches a private name: each one is resolved by `_private`, which fails
naming it when an upgrade removed it, and tests/unit/numbers/test_internals.py probes what each
one does, so a change of meaning fails loudly too, naming the name.

Names only needed while building the tables (`phonenumbers.geocoder` loads ~100 MB of geodata
when imported) are resolved when first called, not at import.
"""

from __future__ import annotations

import importlib
import platform
from collections.abc import Callable
from typing import Any

import phonenumbers


class MissingInternal(ImportError):
    """A private name the compiled validator relies on is not there any more."""


def _private(module_name: str, name: str) -> Any:
    module = importlib.import_module(module_name)
    try:
        return getattr(module, name)
    except AttributeError:
        raise MissingInternal(
            f"{module_name}.{name} is gone (phonenumbers {phonenumbers.__version__}, "
            f"Python {platform.python_version()}): numcheck's compiled validator relies on it; "
            "adapt numcheck/numbers/compiled/internals.py"
        ) from None


def _private_module(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError:
        raise MissingInternal(
            f"{module_name} is gone (Python {platform.python_version()}): numcheck's compiled "
            "validator parses phonenumbers' patterns with it; adapt "
            "numcheck/numbers/compiled/internals.py"
        ) from None


# -- Python's regular-expression parser: libphonenumber's patterns become digit automata --------

sre_parse = _private_module("re._parser")
sre_constants = _private_module("re._constants")
# What the automata accept of it, asked here so that a renamed constant fails at import.
for _name in (
    "LITERAL",
    "IN",
    "RANGE",
    "CATEGORY",
    "CATEGORY_DIGIT",
    "NEGATE",
    "BRANCH",
    "SUBPATTERN",
    "MAX_REPEAT",
    "MIN_REPEAT",
    "MAXREPEAT",
    "ANY",
):
    _private("re._constants", _name)
_private("re._parser", "parse")

# -- phonenumbers' parse steps, used per number for the rare national prefix after the code -----

# The longest national significant number parse() accepts (17).
MAX_LENGTH_FOR_NSN: int = _private("phonenumbers.phonenumberutil", "_MAX_LENGTH_FOR_NSN")
# (carrier code, number without its national prefix, stripped?) for a national number.
strip_national_prefix_carrier_code: Callable[[str, Any], tuple[str, str, bool]] = _private(
    "phonenumbers.phonenumberutil", "_maybe_strip_national_prefix_carrier_code"
)
# A ValidationResult for a national number's length against a metadata's possible lengths.
validate_length: Callable[[str, Any], int] = _private(
    "phonenumbers.phonenumberutil", "_test_number_length"
)
# The pattern format_number rewrites the first group of a format with (NATIONAL format).
FIRST_GROUP_PATTERN: Any = _private("phonenumbers.phonenumberutil", "_FIRST_GROUP_PATTERN")

# -- lookups used while building the tables (resolved on first call) ----------------------------


def find_lang(by_language: dict[str, str], lang: str, script: str | None, region: str | None):  # type: ignore[no-untyped-def]
    """phonenumbers.prefix._find_lang: the name a prefix entry gives in a language, or None."""
    return _private("phonenumbers.prefix", "_find_lang")(by_language, lang, script, region)


def is_carrier_type(number_type: int) -> bool:
    """phonenumbers.carrier._is_mobile: the types carrier.name_for_number looks carriers up for."""
    return bool(_private("phonenumbers.carrier", "_is_mobile")(number_type))


def country_level_time_zones(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    """phonenumbers.timezone._country_level_time_zones_for_number: zones of the whole code."""
    return tuple(_private("phonenumbers.timezone", "_country_level_time_zones_for_number")(number))


def region_display_name(region: str, lang: str) -> str:
    """phonenumbers.geocoder._region_display_name: a region's name as the geocoder gives it.

    Imports phonenumbers.geocoder, which loads all geodata: call it only while building.
    """
    return str(_private("phonenumbers.geocoder", "_region_display_name")(region, lang))
